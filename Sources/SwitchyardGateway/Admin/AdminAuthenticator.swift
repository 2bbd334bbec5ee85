import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import SwitchyardCore

/// Checks the admin token (`Authorization: Bearer …`).
package struct AdminAuthenticator: Sendable {
    /// The actor the audit log records for changes made through the admin API.
    static let actor = "admin"
    let tokens: [TokenDigest]

    /// Throws 401 unless the request carries an admin token.
    func authorize(_ request: Request) throws {
        guard let authorization = request.headers[.authorization], let token = BearerToken.credentials(inAuthorization: authorization) else {
            throw AdminError.unauthorized()
        }
        let digest = TokenDigest(token: token)
        guard tokens.contains(where: { $0.constantTimeEquals(digest) }) else { throw AdminError.unauthorized() }
    }
}

/// The admin token, checked once for every admin API route (`/api/…`) before its handler runs; the
/// OpenAPI document, the admin page's files, `/health`, `/ready` and `/metrics` stay open.
struct AdminAuthMiddleware: RouterMiddleware {
    let auth: AdminAuthenticator

    func handle(
        _ request: Request, context: GatewayContext, next: (Request, GatewayContext) async throws -> Response
    ) async throws -> Response {
        let path = request.uri.path
        if path.hasPrefix("/api/") && path != "/api/openapi.json" {
            try auth.authorize(request)
        }
        return try await next(request, context)
    }
}

extension AdminError {
    init(_ error: ReleaseError) {
        self.init(status: HTTPResponse.Status(code: error.status), message: error.message, field: error.field)
    }
}
