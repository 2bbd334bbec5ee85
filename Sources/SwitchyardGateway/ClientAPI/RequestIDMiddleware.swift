import HTTPTypes
import Hummingbird
import Logging
import SwitchyardCore

/// Gives every request an id (the client's `X-Request-ID` when usable), returns it on every
/// response, and renders every error in OpenAI's shape.
package struct RequestIDMiddleware: RouterMiddleware {
    package typealias Context = GatewayContext

    package init() {}

    package func handle(
        _ request: Request, context: GatewayContext, next: (Request, GatewayContext) async throws -> Response
    ) async throws -> Response {
        var context = context
        let requestID = Self.usableID(request.headers[.requestID]) ?? RequestIdentifier.makeTimeOrdered()
        context.requestID = requestID
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as GatewayError {
            response = try error.response(from: request, context: context)
        } catch let error as AdminError {
            response = try error.response(from: request, context: context)
        } catch let error as HTTPError where error.status == .notFound {
            response = try GatewayError.notFound(path: request.uri.path).response(from: request, context: context)
        } catch let error as HTTPError {
            let gatewayError = GatewayError(
                status: error.status, message: error.body ?? error.status.reasonPhrase, type: "invalid_request_error")
            response = try gatewayError.response(from: request, context: context)
        } catch {
            context.logger.error("unhandled error", metadata: ["request.id": .string(requestID), "error": "\(error)"])
            response = try GatewayError.internalError().response(from: request, context: context)
        }
        response.headers[.requestID] = requestID
        return response
    }

    /// Accepts ids of up to 128 visible ASCII characters; anything else is replaced by a generated one.
    static func usableID(_ value: String?) -> String? {
        guard let value, !value.isEmpty, value.utf8.count <= 128, value.utf8.allSatisfy({ $0 > 32 && $0 < 127 }) else {
            return nil
        }
        return value
    }
}
