import Foundation
import NIOCore

/// What every relayed answer shares: the SSE keep-alive comment and error event, and `Retry-After`.
enum Relay {
    static let keepAliveComment = ByteBuffer(string: ": keep-alive\n\n")

    /// Counts the Switchyard gateways a request has passed: a provider whose base_url leads back to
    /// a gateway would otherwise send each request round until a pool or a deadline runs out.
    static let hopsHeader = "x-switchyard-hops"
    /// Gateways in a row that are still a chain (an edge gateway in front of regional ones) rather than a loop.
    static let maximumHops = 5
    /// The header value the next gateway gets, by the hops before this one: no string built per request.
    static let hopCounts = (1...maximumHops).map(String.init)

    /// The SSE event that ends a failed stream: the error in OpenAI's shape, alone in its event.
    static func errorEvent(_ error: GatewayError) -> ByteBuffer {
        var event = ByteBuffer(string: "data: ")
        var json = error.jsonBody
        event.writeBuffer(&json)
        event.writeString("\n\n")
        return event
    }

    /// Why a stream is cut off when one upstream event grows past `max_stream_event_bytes`.
    static func eventTooLarge(_ limit: Int) -> GatewayError {
        .badUpstreamResponse("an event larger than \(limit) bytes")
    }

    /// Seconds from a `Retry-After` header (delta-seconds form), 1 s when absent, at most an hour.
    static func retryAfterSeconds(_ value: String?) -> Double {
        guard let value, let seconds = Double(value.trimmingCharacters(in: .whitespaces)), seconds >= 0 else { return 1 }
        return min(seconds, 3600)
    }
}
