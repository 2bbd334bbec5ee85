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
        event.cachedInputTokens = usage.cachedInput
        event.cacheWriteTokens = usage.cacheWrite
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
