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
        let html = "text/html; charset=utf-8"
        let css = "text/css; charset=utf-8"
        // The page's ES modules import each other by relative path: each is served as its own file, and a new
        // module needs a line here and an `.embedInCode` line in Package.swift.
        let javascript = "text/javascript; charset=utf-8"
        let files: [(String, [UInt8], String)] = [
            ("/admin", PackageResources.index_html, html),
            ("/admin/app.css", PackageResources.app_css, css),
            ("/admin/app.js", PackageResources.app_js, javascript),
            ("/admin/api.js", PackageResources.api_js, javascript),
            ("/admin/format.js", PackageResources.format_js, javascript),
            ("/admin/dom.js", PackageResources.dom_js, javascript),
            ("/admin/charts.js", PackageResources.charts_js, javascript),
            ("/admin/shell.js", PackageResources.shell_js, javascript),
            ("/admin/overview.js", PackageResources.overview_js, javascript),
            ("/admin/backends.js", PackageResources.backends_js, javascript),
            ("/admin/models.js", PackageResources.models_js, javascript),
            ("/admin/rollouts.js", PackageResources.rollouts_js, javascript),
            ("/admin/shadow.js", PackageResources.shadow_js, javascript),
            ("/admin/experiments.js", PackageResources.experiments_js, javascript),
            ("/admin/users.js", PackageResources.users_js, javascript),
            ("/admin/providers.js", PackageResources.providers_js, javascript),
            ("/admin/audit.js", PackageResources.audit_js, javascript),
            ("/admin/config.js", PackageResources.config_js, javascript),
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
