import Foundation

/// Settings of the `smart_ai` strategy's per-backend confidence.
package struct SmartAISettings: Sendable, Hashable, Codable {
    package var initialConfidence: Double
    package var minConfidence: Double
    /// Share of requests sent to a backend other than the best one, to keep learning.
    package var explorationRatio: Double
    /// Fraction of the distance to 1 gained on each success.
    package var successReward: Double
    /// Confidence lost on each failure.
    package var failurePenalty: Double
    /// Seconds for confidence to drift halfway back to `initialConfidence`; 0 = no drift.
    package var decayHalfLifeSeconds: Double
    /// Backends at or above this confidence count as confident.
    package var confidenceThreshold: Double

    package init(
        initialConfidence: Double = 0.8, minConfidence: Double = 0.1, explorationRatio: Double = 0.1, successReward: Double = 0.1,
        failurePenalty: Double = 0.2, decayHalfLifeSeconds: Double = 0, confidenceThreshold: Double = 0.5
    ) {
        self.initialConfidence = initialConfidence
        self.minConfidence = minConfidence
        self.explorationRatio = explorationRatio
        self.successReward = successReward
        self.failurePenalty = failurePenalty
        self.decayHalfLifeSeconds = decayHalfLifeSeconds
        self.confidenceThreshold = confidenceThreshold
    }
}

/// Everything Switchyard knows about one backend's recent behaviour: breaker, latency, success
/// rate, 429 cool-down, progressive recovery and `smart_ai` confidence. Pure: time is passed in.
package struct BackendHealth: Sendable {
    package static let recoveryStages: [(successes: Int, factor: Double)] = [(0, 0.3), (5, 0.5), (10, 1.0)]

    package private(set) var breaker: CircuitBreaker
    /// Exponentially weighted moving average of successful requests' latency.
    package private(set) var latencyMilliseconds: Double?
    package private(set) var coolingDownUntil: Double?
    /// Successes since the circuit last closed after being open; `nil` when fully recovered.
    package private(set) var successesSinceRecovery: Int?
    package private(set) var confidence: Double
    private var confidenceUpdatedAt: Double
    package private(set) var requests = 0
    package private(set) var failures = 0
    /// How many times the circuit has opened.
    package private(set) var timesOpened = 0
    private let smartAI: SmartAISettings

    package init(policy: CircuitBreakerPolicy, smartAI: SmartAISettings, now: Double) {
        breaker = CircuitBreaker(policy: policy)
        self.smartAI = smartAI
        confidence = smartAI.initialConfidence
        confidenceUpdatedAt = now
    }

    /// Records one attempt's outcome; returns the breaker's transition, if any.
    package mutating func record(success: Bool, latencyMilliseconds latency: Double?, now: Double) -> CircuitBreaker.Transition? {
        requests += 1
        if !success { failures += 1 }
        if success, let latency {
            latencyMilliseconds = latencyMilliseconds.map { $0 * 0.8 + latency * 0.2 } ?? latency
        }
        confidence = currentConfidence(now: now)
        confidence =
            success
            ? confidence + smartAI.successReward * (1 - confidence) : max(smartAI.minConfidence, confidence - smartAI.failurePenalty)
        confidenceUpdatedAt = now
        let transition = breaker.record(success: success, now: now)
        if let transition {
            if transition.to == "closed" { successesSinceRecovery = 0 }
            if transition.to == "open" {
                successesSinceRecovery = nil
                timesOpened += 1
            }
        } else if success, let count = successesSinceRecovery {
            let next = count + 1
            successesSinceRecovery = next >= Self.recoveryStages.last!.successes ? nil : next
        }
        return transition
    }

    package mutating func acquire(now: Double) -> Bool {
        breaker.acquire(now: now)
    }

    /// A 429's `Retry-After`: no requests to this backend until then.
    package mutating func coolDown(until: Double) {
        coolingDownUntil = max(coolingDownUntil ?? 0, until)
    }

    package func isCoolingDown(now: Double) -> Bool {
        (coolingDownUntil ?? 0) > now
    }

    /// Share of its weight a backend back from an open circuit gets: 30 %, then 50 %, then 100 %.
    package var recoveryFactor: Double {
        guard let count = successesSinceRecovery else { return 1 }
        return Self.recoveryStages.last { count >= $0.successes }?.factor ?? 1
    }

    package var successRate: Double? {
        breaker.errorRate.map { 1 - $0 }
    }

    package func currentConfidence(now: Double) -> Double {
        guard smartAI.decayHalfLifeSeconds > 0 else { return confidence }
        let elapsed = max(0, now - confidenceUpdatedAt)
        let keep = pow(0.5, elapsed / smartAI.decayHalfLifeSeconds)
        return smartAI.initialConfidence + (confidence - smartAI.initialConfidence) * keep
    }
}
