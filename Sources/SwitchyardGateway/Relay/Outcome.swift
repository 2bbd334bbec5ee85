import Foundation
import SwitchyardCore

/// The parts of an outcome known when a request is routed; completed once the answer ends.
struct OutcomeDraft: Sendable {
    var requestID: String
    var userID: String
    var model: String
    var version: String
    var backend: String
    var endpoint: Endpoint
    var stream: Bool
    var startedAt: ContinuousClock.Instant
    var startedAtWallClock: Double
    var traceID: String?
    var fellBackFrom: String?
    var failovers = 0
    var rateLimitTicket: Int?
    var experiment: ExperimentAssignment?
    /// Prompt tokens estimated at admission: billed when a client leaves before the usage arrives.
    var estimatedInputTokens = 0

    init(requestID: String, userID: String, model: String, endpoint: Endpoint, stream: Bool, startedAt: ContinuousClock.Instant) {
        self.requestID = requestID
        self.userID = userID
        self.model = model
        self.version = ""
        self.backend = ""
        self.endpoint = endpoint
        self.stream = stream
        self.startedAt = startedAt
        self.startedAtWallClock = Date().timeIntervalSince1970
    }

    func finish(
        status: Int, firstByteAt: ContinuousClock.Instant? = nil, usage: TokenUsage? = nil, provider: ProviderSpec? = nil,
        error: String? = nil
    ) -> OutcomeEvent {
        let usage = usage ?? TokenUsage(input: 0, output: 0)
        var event = OutcomeEvent(
            time: startedAtWallClock, requestID: requestID, userID: userID, model: model, version: version, backend: backend,
            endpoint: endpoint.rawValue, status: status, stream: stream,
            latencyMilliseconds: Self.milliseconds(from: startedAt, to: .now),
            timeToFirstTokenMilliseconds: firstByteAt.map { Self.milliseconds(from: startedAt, to: $0) },
            inputTokens: usage.input, outputTokens: usage.output, costUSD: provider.map(usage.cost(for:)) ?? 0, error: error,
            traceID: traceID)
        event.fellBackFrom = fellBackFrom
        event.failovers = failovers
        event.rateLimitTicket = rateLimitTicket
        event.experiment = experiment?.experimentID
        event.variant = experiment?.variantID
        return event
    }

    /// Usage when a client left a stream before the upstream reported it: the prompt estimate, and
    /// one output token per relayed event (streams send about a token per chunk), so that cut
    /// streams are not free.
    func estimatedUsage(events: Int) -> TokenUsage {
        TokenUsage(input: estimatedInputTokens, output: events)
    }

    /// Seconds since 1970 at `instant`, on the request's own wall clock.
    func wallClock(at instant: ContinuousClock.Instant) -> Double {
        startedAtWallClock + Self.milliseconds(from: startedAt, to: instant) / 1000
    }

    static func milliseconds(from start: ContinuousClock.Instant, to end: ContinuousClock.Instant) -> Double {
        let duration = end - start
        return Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
    }
}

/// Token usage read from an OpenAI response or stream chunk without parsing the whole document:
/// the value of the last `"usage"` key outside a string is read, and the document is parsed whole
/// only when that is not a plausible usage object.
enum UsageReader {
    static func usage(in bytes: UnsafeRawBufferPointer) -> TokenUsage? {
        if let offset = lastUsageValueOffset(in: bytes),
            let (value, _) = try? JSONValue.parseValue(in: bytes, at: offset)
        {
            if value == .null { return nil }
            if let usage = tokenUsage(value) { return usage }
        }
        guard case .object(let object)? = try? JSONValue.parse(buffer: bytes) else { return nil }
        return object["usage"].flatMap(tokenUsage)
    }

    /// The top-level `model` of an answer or stream chunk (`gen_ai.response.model`).
    static func responseModel(in bytes: UnsafeRawBufferPointer) -> String? {
        guard case .object(let object)? = try? JSONValue.parse(buffer: bytes), case .string(let model)? = object["model"] else { return nil }
        return model
    }

    /// Whether the document is the final chunk `stream_options.include_usage` adds: usage and no choices.
    static func isUsageOnlyChunk(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard case .object(let object)? = try? JSONValue.parse(buffer: bytes) else { return false }
        return object["usage"]?.objectValue != nil && (object["choices"]?.arrayValue?.isEmpty ?? true)
    }

    private static func tokenUsage(_ value: JSONValue) -> TokenUsage? {
        guard case .object(let usage) = value else { return nil }
        let input = usage["prompt_tokens"]?.intValue()
        let output = usage["completion_tokens"]?.intValue()
        guard input != nil || output != nil else { return nil }
        return TokenUsage(input: input ?? 0, output: output ?? 0)
    }

    /// Where the value after the last unescaped `"usage"` key starts (just past its colon).
    private static func lastUsageValueOffset(in bytes: UnsafeRawBufferPointer) -> Int? {
        let key = Array(#""usage""#.utf8)
        var start = bytes.count - key.count
        while start >= 0 {
            if bytes[start] == key[0], bytes[start + 1] == key[1], zip(key.indices, key).allSatisfy({ bytes[start + $0] == $1 }) {
                var backslashes = 0
                while start - backslashes - 1 >= 0, bytes[start - backslashes - 1] == UInt8(ascii: "\\") { backslashes += 1 }
                if backslashes % 2 == 0 {
                    var index = start + key.count
                    while index < bytes.count, bytes[index] == 0x20 || bytes[index] == 0x0A || bytes[index] == 0x0D || bytes[index] == 0x09 {
                        index += 1
                    }
                    if index < bytes.count, bytes[index] == UInt8(ascii: ":") { return index + 1 }
                }
            }
            start -= 1
        }
        return nil
    }
}
