import NIOHTTP1

/// The request headers the client API reads, found in one pass over the head: a lookup by name
/// walks every field and compares it without case, and a request made a dozen of them.
/// Each field holds the first value of its name, as `HTTPHeaders.first(name:)` would give it.
struct ClientRequestHeaders {
    var requestID: String?
    var contentLength: String?
    var expect: String?
    var authorization: String?
    var apiKey: String?
    /// `x-switchyard-hops`: Switchyard gateways the request passed before this one.
    var hops: String?
    /// `x-session-id`, else `x-conversation-id`.
    var sessionID: String?
    var region: String?
    var excludedProviders: String?
    var traceparent: String?
    private var conversationID: String?
    private var tracestate: String?
    private var baggage: String?
    private var anthropicVersion: String?
    private var anthropicBeta: String?

    init(_ headers: HTTPHeaders) {
        for (name, value) in headers {
            switch name.utf8.count {
            case 6:
                if HTTPHeadBytes.isField(name, "expect") { Self.keepFirst(value, in: &expect) }
            case 7:
                if HTTPHeadBytes.isField(name, "baggage") { Self.keepFirst(value, in: &baggage) }
            case 9:
                if HTTPHeadBytes.isField(name, "x-api-key") { Self.keepFirst(value, in: &apiKey) }
            case 10:
                if HTTPHeadBytes.isField(name, "tracestate") { Self.keepFirst(value, in: &tracestate) }
            case 11:
                if HTTPHeadBytes.isField(name, "traceparent") { Self.keepFirst(value, in: &traceparent) }
            case 12:
                if HTTPHeadBytes.isField(name, "x-request-id") {
                    Self.keepFirst(value, in: &requestID)
                } else if HTTPHeadBytes.isField(name, "x-session-id") {
                    Self.keepFirst(value, in: &sessionID)
                }
            case 13:
                if HTTPHeadBytes.isField(name, "authorization") { Self.keepFirst(value, in: &authorization) }
            case 14:
                if HTTPHeadBytes.isField(name, "content-length") {
                    Self.keepFirst(value, in: &contentLength)
                } else if HTTPHeadBytes.isField(name, "anthropic-beta") {
                    Self.keepFirst(value, in: &anthropicBeta)
                }
            case 17:
                if HTTPHeadBytes.isField(name, "x-switchyard-hops") {
                    Self.keepFirst(value, in: &hops)
                } else if HTTPHeadBytes.isField(name, "x-conversation-id") {
                    Self.keepFirst(value, in: &conversationID)
                } else if HTTPHeadBytes.isField(name, "anthropic-version") {
                    Self.keepFirst(value, in: &anthropicVersion)
                }
            case 19:
                if HTTPHeadBytes.isField(name, "x-switchyard-region") { Self.keepFirst(value, in: &region) }
            case 30:
                if HTTPHeadBytes.isField(name, "x-switchyard-exclude-providers") { Self.keepFirst(value, in: &excludedProviders) }
            default:
                break
            }
        }
        if sessionID == nil { sessionID = conversationID }
    }

    private static func keepFirst(_ value: String, in field: inout String?) {
        if field == nil { field = value }
    }

    /// The client headers passed on to upstreams as they came, all others staying at the gateway:
    /// `tracestate` and `baggage` (`traceparent` goes too, as a child of the gateway's span), and
    /// for an Anthropic client its `anthropic-version` and `anthropic-beta`.
    func passedOn(anthropic: Bool) -> [(String, String)] {
        var passed: [(String, String)] = []
        if let tracestate { passed.append(("tracestate", tracestate)) }
        if let baggage { passed.append(("baggage", baggage)) }
        guard anthropic else { return passed }
        if let anthropicVersion { passed.append(("anthropic-version", anthropicVersion)) }
        if let anthropicBeta { passed.append(("anthropic-beta", anthropicBeta)) }
        return passed
    }
}
