import NIOHTTP1
import SwitchyardCore
import Testing

@testable import SwitchyardGateway

/// The one pass over a request's headers finds what a lookup by name finds, field by field.
@Suite struct ClientRequestHeadersTests {
    static let names = [
        "x-request-id", "content-length", "expect", "authorization", "x-api-key", "x-switchyard-hops", "x-session-id",
        "x-conversation-id", "x-switchyard-region", "x-switchyard-exclude-providers", "traceparent", "tracestate", "baggage",
        "anthropic-version", "anthropic-beta",
    ]
    /// Names of the same lengths that must not match, and ordinary ones.
    static let others = ["x-request-ix", "content-lengt", "expects", "x-api-keys", "host", "content-type", "user-agent", "accept", ""]

    /// Every field as `HTTPHeaders.first(name:)` finds it.
    static func byLookup(_ headers: HTTPHeaders) -> [String: String] {
        var found: [String: String] = [:]
        for name in names { found[name] = headers.first(name: name) }
        return found
    }

    static func byPass(_ headers: HTTPHeaders) -> [String: String] {
        let fields = ClientRequestHeaders(headers)
        var found: [String: String] = [:]
        found["x-request-id"] = fields.requestID
        found["content-length"] = fields.contentLength
        found["expect"] = fields.expect
        found["authorization"] = fields.authorization
        found["x-api-key"] = fields.apiKey
        found["x-switchyard-hops"] = fields.hops
        found["x-switchyard-region"] = fields.region
        found["x-switchyard-exclude-providers"] = fields.excludedProviders
        found["traceparent"] = fields.traceparent
        for (name, value) in fields.passedOn(anthropic: true) { found[name] = value }
        return found
    }

    static func randomlyCased(_ name: String, using random: inout some RandomNumberGenerator) -> String {
        String(name.map { Bool.random(using: &random) ? Character($0.uppercased()) : $0 })
    }

    @Test func aPassFindsWhatLookupsByNameFind() {
        var random = SplitMix64(seed: 20_261_205)
        for _ in 0..<2_000 {
            var headers = HTTPHeaders()
            for index in 0..<Int.random(in: 0...12, using: &random) {
                let name = (Bool.random(using: &random) ? Self.names : Self.others).randomElement(using: &random)!
                headers.add(name: Self.randomlyCased(name, using: &random), value: "v\(index)")
            }
            var expected = Self.byLookup(headers)
            expected["x-session-id"] = nil
            expected["x-conversation-id"] = nil
            #expect(Self.byPass(headers) == expected, "\(headers)")
            let session = headers.first(name: "x-session-id") ?? headers.first(name: "x-conversation-id")
            #expect(ClientRequestHeaders(headers).sessionID == session, "\(headers)")
        }
    }

    @Test func headersPassedOnKeepTheirOrderAndOnlyAnAnthropicClientsOwn() {
        let headers = HTTPHeaders([
            ("Anthropic-Beta", "b"), ("BAGGAGE", "k=v"), ("anthropic-version", "2023-06-01"), ("tracestate", "a=1"), ("tracestate", "a=2"),
        ])
        let fields = ClientRequestHeaders(headers)
        #expect(fields.passedOn(anthropic: false).map { "\($0.0)=\($0.1)" } == ["tracestate=a=1", "baggage=k=v"])
        #expect(
            fields.passedOn(anthropic: true).map { "\($0.0)=\($0.1)" }
                == ["tracestate=a=1", "baggage=k=v", "anthropic-version=2023-06-01", "anthropic-beta=b"])
    }
}
