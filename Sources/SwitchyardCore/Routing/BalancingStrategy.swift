import Foundation

/// How a model picks a backend inside a version. Each is a pure function of the eligible
/// candidates, their health and a random source: it returns them in the order to try.
package enum BalancingStrategy: String, Sendable, Hashable, Codable, CaseIterable {
    case weightedRandom = "weighted_random"
    case roundRobin = "round_robin"
    case random
    case leastLatency = "least_latency"
    case failover
    case weightedFailover = "weighted_failover"
    case smartWeightedFailover = "smart_weighted_failover"
    case costFirst = "cost_first"
    case reliabilityFirst = "reliability_first"
    case balanced
    case smartAI = "smart_ai"

    /// Accepts the documented names and the alias `latency_first`.
    package init?(configName: String) {
        if configName == "latency_first" {
            self = .leastLatency
        } else {
            self.init(rawValue: configName)
        }
    }

    /// Whether, when no backend is healthy, the strategy still picks among all of them by weight.
    package var usesUnhealthyWhenNoneHealthy: Bool {
        self == .weightedFailover || self == .smartWeightedFailover
    }
}

/// A backend being considered for one request, with what routing knows about its health.
package struct Candidate: Sendable {
    package var backend: EffectiveConfiguration.Backend
    /// Position in the version's backend list.
    package var index: Int
    package var status: BackendStatus

    package init(backend: EffectiveConfiguration.Backend, index: Int, status: BackendStatus) {
        self.backend = backend
        self.index = index
        self.status = status
    }

    package var label: String { backend.label }
}

/// A backend's health as routing sees it at one instant.
package struct BackendStatus: Sendable, Hashable {
    /// `closed`, `open` or `half_open`.
    package var breakerState: String
    /// The breaker lets a request through now (closed, or a half-open probe is free).
    package var breakerAllows: Bool
    package var openUntil: Double?
    package var coolingDownUntil: Double?
    package var latencyMilliseconds: Double?
    package var successRate: Double?
    package var recoveryFactor: Double
    package var confidence: Double
    package var requests: Int
    package var failures: Int
    package var timesOpened: Int

    package init(
        breakerState: String = "closed", breakerAllows: Bool = true, openUntil: Double? = nil, coolingDownUntil: Double? = nil,
        latencyMilliseconds: Double? = nil, successRate: Double? = nil, recoveryFactor: Double = 1, confidence: Double = 0.8,
        requests: Int = 0, failures: Int = 0, timesOpened: Int = 0
    ) {
        self.breakerState = breakerState
        self.breakerAllows = breakerAllows
        self.openUntil = openUntil
        self.coolingDownUntil = coolingDownUntil
        self.latencyMilliseconds = latencyMilliseconds
        self.successRate = successRate
        self.recoveryFactor = recoveryFactor
        self.confidence = confidence
        self.requests = requests
        self.failures = failures
        self.timesOpened = timesOpened
    }

    package static let unknown = BackendStatus()

    package var isHealthy: Bool { breakerAllows && coolingDownUntil == nil }
}

/// The size of a request, to estimate what it costs on each backend.
package struct RequestEstimate: Sendable, Hashable {
    package var inputTokens: Int
    package var outputTokens: Int

    package init(inputTokens: Int, outputTokens: Int) {
        self.inputTokens = inputTokens
        self.outputTokens = outputTokens
    }

    package func costUSD(on provider: ProviderSpec) -> Double {
        TokenUsage(input: inputTokens, output: outputTokens).cost(for: provider)
    }
}

/// The order chosen and the score each candidate got, for explaining.
package struct StrategyResult: Sendable {
    package var ordered: [Candidate]
    /// By candidate index, in the strategy's own unit: the weight drawn with, the priority or latency
    /// (negated, so higher is better), the estimated cost in USD for `cost_first` (lower is better).
    /// Empty unless the order was asked to explain itself.
    package var scores: [Int: Double]
}

extension BalancingStrategy {
    /// Orders `candidates` (all eligible) for one request: the first is the choice, the rest the failover order.
    /// - Parameter explain: also report each candidate's score; the order and the random draws are the same either way.
    package func order<R: RandomNumberGenerator>(
        _ candidates: [Candidate], estimate: RequestEstimate, turn: Int, smartAI: SmartAISettings, explain: Bool = false,
        using random: inout R
    ) -> StrategyResult {
        guard !candidates.isEmpty else { return StrategyResult(ordered: [], scores: [:]) }
        func scoresIfExplaining(_ score: (Candidate) -> Double) -> [Int: Double] {
            guard explain else { return [:] }
            var scores: [Int: Double] = [:]
            scores.reserveCapacity(candidates.count)
            for candidate in candidates { scores[candidate.index] = score(candidate) }
            return scores
        }
        func scored(_ score: (Candidate) -> Double, descending: Bool = true) -> StrategyResult {
            var pairs = candidates.map { (candidate: $0, score: score($0)) }
            pairs.sort { lhs, rhs in
                let (a, b) = (lhs.score, rhs.score)
                if a != b { return descending ? a > b : a < b }
                if lhs.candidate.backend.weight != rhs.candidate.backend.weight { return lhs.candidate.backend.weight > rhs.candidate.backend.weight }
                return lhs.candidate.index < rhs.candidate.index
            }
            var scores: [Int: Double] = [:]
            if explain {
                scores.reserveCapacity(pairs.count)
                for pair in pairs { scores[pair.candidate.index] = pair.score }
            }
            return StrategyResult(ordered: pairs.map(\.candidate), scores: scores)
        }
        func weighted(_ weight: (Candidate) -> Double) -> StrategyResult {
            StrategyResult(ordered: WeightedOrder.order(candidates, weight: weight, using: &random), scores: scoresIfExplaining(weight))
        }

        switch self {
        case .weightedRandom:
            return weighted { $0.backend.weight }
        case .random:
            return weighted { _ in 1 }
        case .roundRobin:
            let start = ((turn % candidates.count) + candidates.count) % candidates.count
            var ordered: [Candidate] = []
            ordered.reserveCapacity(candidates.count)
            ordered.append(contentsOf: candidates[start...])
            ordered.append(contentsOf: candidates[..<start])
            var scores: [Int: Double] = [:]
            if explain {
                for (position, candidate) in ordered.enumerated() { scores[candidate.index] = Double(-position) }
            }
            return StrategyResult(ordered: ordered, scores: scores)
        case .leastLatency:
            // Unmeasured backends go first so they get measured.
            return scored({ -($0.status.latencyMilliseconds ?? 0) })
        case .failover:
            return scored({ -Double($0.backend.priority) })
        case .weightedFailover, .smartWeightedFailover:
            let smart = self == .smartWeightedFailover
            let weight = { (candidate: Candidate) in candidate.backend.weight * (smart ? candidate.status.recoveryFactor : 1) }
            let pool: [Candidate]
            if candidates.allSatisfy(\.status.isHealthy) {
                pool = candidates
            } else {
                let healthy = candidates.filter(\.status.isHealthy)
                pool = healthy.isEmpty ? candidates : healthy
            }
            let first = WeightedOrder.order(pool, weight: weight, using: &random)[0]
            var ordered: [Candidate] = []
            ordered.reserveCapacity(candidates.count)
            ordered.append(first)
            ordered.append(
                contentsOf: candidates.filter { $0.index != first.index }.sorted { lhs, rhs in
                    if lhs.status.isHealthy != rhs.status.isHealthy { return lhs.status.isHealthy }
                    if lhs.backend.priority != rhs.backend.priority { return lhs.backend.priority < rhs.backend.priority }
                    return weight(lhs) > weight(rhs)
                })
            return StrategyResult(ordered: ordered, scores: scoresIfExplaining(weight))
        case .costFirst:
            return scored({ estimate.costUSD(on: $0.backend.provider.spec) }, descending: false)
        case .reliabilityFirst:
            return scored({ ($0.status.successRate ?? 1) - ($0.status.latencyMilliseconds ?? 0) / 1e9 })
        case .balanced:
            return scored(balancedScore(candidates, estimate: estimate))
        case .smartAI:
            return smartAIOrder(candidates, estimate: estimate, settings: smartAI, explain: explain, using: &random)
        }
    }

    /// `balanced`: 0.3 × speed + 0.2 × cheapness + 0.3 × success rate + 0.2 × weight, each scaled to 0…1
    /// against the slowest, dearest and heaviest candidate (unmeasured latency counts as the fastest,
    /// unknown success rate as 1).
    private func balancedScore(_ candidates: [Candidate], estimate: RequestEstimate) -> (Candidate) -> Double {
        let maxLatency = candidates.compactMap(\.status.latencyMilliseconds).max() ?? 0
        let maxCost = candidates.map { estimate.costUSD(on: $0.backend.provider.spec) }.max() ?? 0
        let maxWeight = candidates.map(\.backend.weight).max() ?? 1
        return { candidate in
            let speed = maxLatency > 0 ? 1 - (candidate.status.latencyMilliseconds ?? 0) / maxLatency : 1
            let cheapness = maxCost > 0 ? 1 - estimate.costUSD(on: candidate.backend.provider.spec) / maxCost : 1
            let reliability = candidate.status.successRate ?? 1
            let weight = maxWeight > 0 ? candidate.backend.weight / maxWeight : 1
            return 0.3 * speed + 0.2 * cheapness + 0.3 * reliability + 0.2 * weight
        }
    }

    /// `smart_ai`: with probability 1 − exploration the cheapest confident backend (ties: most
    /// confident) goes first; otherwise a draw among the others weighted by confidence. The rest
    /// follow by confidence.
    private func smartAIOrder<R: RandomNumberGenerator>(
        _ candidates: [Candidate], estimate: RequestEstimate, settings: SmartAISettings, explain: Bool, using random: inout R
    ) -> StrategyResult {
        var scores: [Int: Double] = [:]
        if explain {
            for candidate in candidates { scores[candidate.index] = candidate.status.confidence }
        }
        let byConfidence = candidates.sorted { ($0.status.confidence, -$0.index) > ($1.status.confidence, -$1.index) }
        let confident = candidates.filter { $0.status.confidence >= settings.confidenceThreshold }
        let best =
            confident.min { lhs, rhs in
                let (a, b) = (estimate.costUSD(on: lhs.backend.provider.spec), estimate.costUSD(on: rhs.backend.provider.spec))
                return a != b ? a < b : lhs.status.confidence > rhs.status.confidence
            } ?? byConfidence[0]
        var first = best
        let others = candidates.filter { $0.index != best.index }
        if !others.isEmpty, Double.random(in: 0..<1, using: &random) < settings.explorationRatio {
            first = WeightedOrder.order(others, weight: { max($0.status.confidence, 0.01) }, using: &random)[0]
        }
        let rest = byConfidence.filter { $0.index != first.index }
        return StrategyResult(ordered: [first] + rest, scores: scores)
    }
}
