import HTTPTypes
import Hummingbird
import NIOCore
import SwitchyardCore

/// An admin API error: `{"error":{"message":…,"field":…}}`, naming the offending field when there is one.
package struct AdminError: HTTPResponseError, Sendable {
    package var status: HTTPResponse.Status
    package var message: String
    package var field: String?

    package init(status: HTTPResponse.Status, message: String, field: String? = nil) {
        self.status = status
        self.message = message
        self.field = field
    }

    package static func unauthorized() -> AdminError {
        AdminError(status: .unauthorized, message: "Missing or invalid admin token. Send it as 'Authorization: Bearer <admin token>'.")
    }

    package static func invalid(_ field: String?, _ message: String) -> AdminError {
        AdminError(status: .badRequest, message: message, field: field)
    }

    package static func notFound(_ what: String, field: String? = nil) -> AdminError {
        AdminError(status: .notFound, message: "\(what) not found.", field: field)
    }

    package func response(from request: Request, context: some RequestContext) throws -> Response {
        let body: JSONValue = .object([
            "error": .object(["message": .string(message), "field": field.map(JSONValue.string) ?? .null])
        ])
        return Response.json(body, status: status)
    }
}

extension Response {
    /// A JSON response written straight from a `JSONValue`.
    static func json(_ value: JSONValue, status: HTTPResponse.Status = .ok) -> Response {
        let bytes = ByteBuffer(bytes: value.jsonBytes)
        return Response(
            status: status, headers: [.contentType: "application/json", .contentLength: String(bytes.readableBytes)],
            body: .init(byteBuffer: bytes))
    }
}
