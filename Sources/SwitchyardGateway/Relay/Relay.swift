import Foundation
import Metrics
import NIOCore

/// What every relayed answer shares: the SSE keep-alive comment and error event, and `Retry-After`.
enum Relay {
    static let keepAliveComment = ByteBuffer(string: ": keep-alive\n\n")

    /// Keep-alive comments sent, exported once a metrics backend is bootstrapped.
    static let keepAlivesSent = Counter(label: "switchyard_sse_keepalives_total")

    /// The SSE event that ends a failed stream: the error in OpenAI's shape, alone in its event.
    static func errorEvent(_ error: GatewayError) -> ByteBuffer {
        var event = ByteBuffer(string: "data: ")
        var json = error.jsonBody
        event.writeBuffer(&json)
        event.writeString("\n\n")
        return event
    }

    /// Seconds from a `Retry-After` header (delta-seconds form), 1 s when absent, at most an hour.
    static func retryAfterSeconds(_ value: String?) -> Double {
        guard let value, let seconds = Double(value.trimmingCharacters(in: .whitespaces)), seconds >= 0 else { return 1 }
        return min(seconds, 3600)
    }
}
