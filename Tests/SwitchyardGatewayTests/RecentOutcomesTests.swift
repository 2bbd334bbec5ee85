import SwitchyardCore
import Testing

@testable import SwitchyardGateway

/// Rollout analysis keeps what a running rollout may judge, and memory follows traffic × window.
@Suite struct RecentOutcomesTests {
    struct Discard: OutcomeSink {
        func record(_ event: OutcomeEvent) {}
    }

    func event(_ time: Double, version: String = "v2", status: Int = 200) -> OutcomeEvent {
        OutcomeEvent(
            time: time, requestID: "r", userID: "u", model: "chat", version: version, backend: "b", endpoint: "chat/completions",
            status: status, stream: false, latencyMilliseconds: 10)
    }

    @Test func aVersionNoRolloutJudgesKeepsTheLastMinute() {
        let outcomes = RecentOutcomes(forwardingTo: Discard())
        for second in 0..<600 { outcomes.record(event(Double(second))) }
        #expect(outcomes.sampleCount == 61)
        #expect(outcomes.window(model: "chat", version: "v2", since: 0).requests == 61)
    }

    @Test func aJudgedVersionKeepsItsRolloutsWindowAndStaleVersionsAreDropped() {
        let outcomes = RecentOutcomes(forwardingTo: Discard())
        outcomes.keep(windows: [("chat", "v2", 300)], now: 0)
        for second in 0..<1_000 {
            outcomes.record(event(Double(second), status: second % 10 == 0 ? 500 : 200))
            outcomes.record(event(Double(second), version: "v1"))
        }
        let judged = outcomes.window(model: "chat", version: "v2", since: 0)
        #expect(judged.requests == 301 && judged.errors == 30)
        #expect(outcomes.window(model: "chat", version: "v1", since: 0).requests == 61)
        #expect(outcomes.window(model: "chat", version: "v2", since: 900).requests == 100)

        // The rollout ended and traffic moved on: the next keep drops both windows once they are stale.
        outcomes.keep(windows: [], now: 2_000)
        #expect(outcomes.sampleCount == 0)
    }

    @Test func theCapHoldsUnderAnyRate() {
        let outcomes = RecentOutcomes(forwardingTo: Discard())
        outcomes.keep(windows: [("chat", "v2", 3_600)], now: 0)
        for index in 0..<(RecentOutcomes.perVersionLimit + 5_000) { outcomes.record(event(Double(index) / 1_000)) }
        #expect(outcomes.sampleCount == RecentOutcomes.perVersionLimit)
    }
}
