import Testing

@testable import SwitchyardCore

@Suite struct StrategyTests {
    static func backend(_ name: String, weight: Double = 1, priority: Int = 0, costIn: Double = 0, costOut: Double = 0)
        -> EffectiveConfiguration.Backend
    {
        let provider = EffectiveConfiguration.Provider(
            spec: ProviderSpec(id: name, format: .mock, costInputPerMillionTokens: costIn, costOutputPerMillionTokens: costOut), environment: [:])
        return EffectiveConfiguration.Backend(
            provider: provider, upstreamModel: "m", weight: weight, priority: priority, tags: [], mock: MockSettings(), label: "\(name)/m")
    }

    static func candidates(_ backends: [EffectiveConfiguration.Backend], statuses: [BackendStatus] = []) -> [Candidate] {
        backends.enumerated().map { index, backend in
            Candidate(backend: backend, index: index, status: index < statuses.count ? statuses[index] : .unknown)
        }
    }

    static let estimate = RequestEstimate(inputTokens: 1_000, outputTokens: 500)

    /// How often each candidate comes first over many draws.
    func firstShares(_ strategy: BalancingStrategy, _ candidates: [Candidate], draws: Int = 20_000, seed: UInt64 = 11) -> [String: Double] {
        var random = SplitMix64(seed: seed)
        var counts: [String: Int] = [:]
        for turn in 0..<draws {
            let result = strategy.order(candidates, estimate: Self.estimate, turn: turn, smartAI: SmartAISettings(), using: &random)
            #expect(Set(result.ordered.map(\.index)) == Set(candidates.map(\.index)), "every candidate appears once")
            counts[result.ordered[0].label, default: 0] += 1
        }
        return counts.mapValues { Double($0) / Double(draws) }
    }

    @Test func weightedRandomFollowsWeights() {
        let shares = firstShares(.weightedRandom, Self.candidates([Self.backend("a", weight: 3), Self.backend("b", weight: 1)]))
        #expect(abs(shares["a/m", default: 0] - 0.75) < 0.02)
    }

    @Test func randomIsUniform() {
        let shares = firstShares(.random, Self.candidates([Self.backend("a", weight: 9), Self.backend("b"), Self.backend("c")]))
        for label in ["a/m", "b/m", "c/m"] { #expect(abs(shares[label, default: 0] - 1.0 / 3) < 0.02) }
    }

    @Test func roundRobinRotates() {
        let candidates = Self.candidates([Self.backend("a"), Self.backend("b"), Self.backend("c")])
        var random = SplitMix64(seed: 1)
        let firsts = (0..<6).map {
            BalancingStrategy.roundRobin.order(candidates, estimate: Self.estimate, turn: $0, smartAI: SmartAISettings(), using: &random).ordered[0]
                .label
        }
        #expect(firsts == ["a/m", "b/m", "c/m", "a/m", "b/m", "c/m"])
    }

    @Test func leastLatencyPrefersTheFastestAndMeasuresTheUnknown() {
        let statuses = [BackendStatus(latencyMilliseconds: 300), BackendStatus(latencyMilliseconds: 80), BackendStatus(latencyMilliseconds: 120)]
        let shares = firstShares(
            .leastLatency, Self.candidates([Self.backend("a"), Self.backend("b"), Self.backend("c")], statuses: statuses), draws: 50)
        #expect(shares["b/m"] == 1)
        let withUnknown = Self.candidates([Self.backend("a"), Self.backend("b")], statuses: [BackendStatus(latencyMilliseconds: 10), .unknown])
        #expect(firstShares(.leastLatency, withUnknown, draws: 10)["b/m"] == 1)
    }

    @Test func failoverFollowsPriority() {
        var random = SplitMix64(seed: 2)
        let ordered = BalancingStrategy.failover.order(
            Self.candidates([Self.backend("c", priority: 3), Self.backend("a", priority: 1), Self.backend("b", priority: 2)]),
            estimate: Self.estimate, turn: 0, smartAI: SmartAISettings(), using: &random
        ).ordered
        #expect(ordered.map(\.label) == ["a/m", "b/m", "c/m"])
    }

    @Test func weightedFailoverDrawsAmongHealthyAndStillChoosesWhenNoneIs() {
        let open = BackendStatus(breakerState: "open", breakerAllows: false)
        let mixed = Self.candidates(
            [Self.backend("a", weight: 1), Self.backend("b", weight: 3), Self.backend("c", weight: 5)], statuses: [.unknown, .unknown, open])
        let shares = firstShares(.weightedFailover, mixed)
        #expect(shares["c/m"] == nil, "an unhealthy backend is not drawn while a healthy one exists")
        #expect(abs(shares["b/m", default: 0] - 0.75) < 0.02)
        let allOpen = Self.candidates([Self.backend("a", weight: 1), Self.backend("b", weight: 3)], statuses: [open, open])
        #expect(abs(firstShares(.weightedFailover, allOpen)["b/m", default: 0] - 0.75) < 0.02)
    }

    @Test func smartWeightedFailoverScalesRecoveringBackends() {
        let recovering = BackendStatus(recoveryFactor: 0.3)
        let candidates = Self.candidates([Self.backend("a", weight: 1), Self.backend("b", weight: 1)], statuses: [recovering, .unknown])
        let shares = firstShares(.smartWeightedFailover, candidates)
        #expect(abs(shares["a/m", default: 0] - 0.3 / 1.3) < 0.02)
    }

    @Test func costFirstPicksTheCheapestForThisRequest() {
        let candidates = Self.candidates([
            Self.backend("dear", costIn: 5, costOut: 15), Self.backend("cheap", costIn: 0.15, costOut: 0.6),
            Self.backend("mid", costIn: 1, costOut: 2),
        ])
        var random = SplitMix64(seed: 3)
        let result = BalancingStrategy.costFirst.order(candidates, estimate: Self.estimate, turn: 0, smartAI: SmartAISettings(), using: &random)
        #expect(result.ordered.map(\.label) == ["cheap/m", "mid/m", "dear/m"])
    }

    @Test func reliabilityFirstPicksTheHighestSuccessRate() {
        let statuses = [BackendStatus(successRate: 0.9), BackendStatus(successRate: 0.99), BackendStatus(successRate: 0.5)]
        let shares = firstShares(
            .reliabilityFirst, Self.candidates([Self.backend("a"), Self.backend("b"), Self.backend("c")], statuses: statuses), draws: 20)
        #expect(shares["b/m"] == 1)
    }

    @Test func balancedWeighsLatencyCostReliabilityAndWeight() {
        let fastCheapReliable = BackendStatus(latencyMilliseconds: 100, successRate: 1)
        let slowFlaky = BackendStatus(latencyMilliseconds: 900, successRate: 0.6)
        let candidates = Self.candidates(
            [Self.backend("good", weight: 1, costIn: 1, costOut: 1), Self.backend("bad", weight: 1, costIn: 10, costOut: 10)],
            statuses: [fastCheapReliable, slowFlaky])
        var random = SplitMix64(seed: 4)
        let result = BalancingStrategy.balanced.order(
            candidates, estimate: Self.estimate, turn: 0, smartAI: SmartAISettings(), explain: true, using: &random)
        #expect(result.ordered[0].label == "good/m")
        #expect(abs(result.scores[0]! - (0.3 * (1 - 100.0 / 900) + 0.2 * 0.9 + 0.3 * 1 + 0.2 * 1)) < 1e-9)
    }

    @Test func smartAIExploitsTheCheapestConfidentBackendAndExploresTheRest() {
        let statuses = [BackendStatus(confidence: 0.9), BackendStatus(confidence: 0.85), BackendStatus(confidence: 0.2)]
        let candidates = Self.candidates(
            [
                Self.backend("dear", costIn: 10, costOut: 10), Self.backend("cheap", costIn: 1, costOut: 1),
                Self.backend("cheapest-unsure", costIn: 0.1, costOut: 0.1),
            ],
            statuses: statuses)
        let shares = firstShares(.smartAI, candidates)
        // Exploration is 10 % by default, split among the others by confidence.
        #expect(abs(shares["cheap/m", default: 0] - 0.9) < 0.02)
        #expect(shares["dear/m", default: 0] > shares["cheapest-unsure/m", default: 0])
    }

    @Test func latencyFirstIsAnAliasOfLeastLatency() {
        #expect(BalancingStrategy(configName: "latency_first") == .leastLatency)
        #expect(BalancingStrategy(configName: "psychic") == nil)
    }
}
