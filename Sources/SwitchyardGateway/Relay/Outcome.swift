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
        return OutcomeEvent(
            time: startedAtWallClock, requestID: requestID, userID: userID, model: model, version: version, backend: backend,
            endpoint: endpoint.rawValue, status: status, stream: stream,
            latencyMilliseconds: Self.milliseconds(from: startedAt, to: .now),
            timeToFirstTokenMilliseconds: firstByteAt.map { Self.milliseconds(from: startedAt, to: $0) },
            inputTokens: usage.input, outputTokens: usage.output, costUSD: provider.map(usage.cost(for:)) ?? 0, error: error)
    }

    static func milliseconds(from start: ContinuousClock.Instant, to end: ContinuousClock.Instant) -> Double {
        let duration = end - start
        return Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
    }
}

/// The `usage` object of an OpenAI response or stream chunk, and whether the chunk carries nothing else.
struct UsageProbe {
    var tokenUsage: TokenUsage?
    /// The final chunk that `stream_options.include_usage` adds: usage and no choices.
    var isUsageOnlyChunk: Bool

    static func parse(json bytes: some Collection<UInt8>) -> UsageProbe? {
        guard case .object(let object)? = try? JSONValue.parse(bytes) else { return nil }
        guard case .object(let usage)? = object["usage"] else {
            return UsageProbe(tokenUsage: nil, isUsageOnlyChunk: false)
        }
        let tokens = TokenUsage(
            input: Int(usage["prompt_tokens"]?.numberValue ?? 0), output: Int(usage["completion_tokens"]?.numberValue ?? 0))
        return UsageProbe(tokenUsage: tokens, isUsageOnlyChunk: object["choices"]?.arrayValue?.isEmpty ?? true)
    }
}
