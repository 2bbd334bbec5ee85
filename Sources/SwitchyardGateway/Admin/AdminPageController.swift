import HTTPTypes
import Hummingbird
import NIOCore

/// The admin page and the OpenAPI document, embedded in the executable: no files beside it, no
/// outside assets. The page asks for the admin token itself, so serving it needs none.
package struct AdminPageController: Sendable {
    /// Scripts and styles only from the gateway itself; no inline script, no framing.
    static let contentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        + "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

    package init() {}

    package func addRoutes(to router: Router<GatewayContext>) {
        let files: [(String, [UInt8], String)] = [
            ("/admin", PackageResources.index_html, "text/html; charset=utf-8"),
            ("/admin/app.js", PackageResources.app_js, "text/javascript; charset=utf-8"),
            ("/admin/app.css", PackageResources.app_css, "text/css; charset=utf-8"),
        ]
        for (path, bytes, type) in files {
            router.get(RouterPath(path)) { _, _ in Self.response(bytes, type: type) }
        }
        router.get("/api/openapi.json") { _, _ in
            Self.response(PackageResources.openapi_json, type: "application/json")
        }
    }

    private static func response(_ bytes: [UInt8], type: String) -> Response {
        let body = ByteBuffer(bytes: bytes)
        var headers: HTTPFields = [
            .contentType: type, .contentLength: String(body.readableBytes), .cacheControl: "no-cache",
            HTTPField.Name("x-content-type-options")!: "nosniff", HTTPField.Name("referrer-policy")!: "no-referrer",
        ]
        headers[HTTPField.Name("content-security-policy")!] = contentSecurityPolicy
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: body))
    }
}
