import Foundation
import HTTPTypes
import NIOCore
import NIOHTTP1
import SwitchyardCore

/// One request on its way to a backend: the body already spliced for that backend.
struct OutgoingRequest {
    var endpoint: Endpoint
    var body: ByteBuffer
    var stream: Bool
    var requestID: String
    /// Client headers from the allow-list (and the trace context), passed on as they came.
    var forwardedHeaders: [(String, String)]

    /// The body as a tree, for the paths that need one (translation, the mock).
    func tree() throws(GatewayError) -> UpstreamRequest {
        guard case .object(let object)? = try? body.withUnsafeReadableBytes({ try JSONValue.parse(buffer: $0) }) else {
            throw GatewayError.invalidRequest("The request body must be a JSON object.")
        }
        return UpstreamRequest(endpoint: endpoint, body: object, stream: stream, requestID: requestID, forwardedHeaders: forwardedHeaders)
    }
}
