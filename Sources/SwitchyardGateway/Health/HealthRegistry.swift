import Foundation
import Logging
import SwitchyardCore
import Synchronization

/// The live health of every backend, keyed by `provider/upstream-model`, fed by every attempt's
/// outcome and by active probes. The decisions are `BackendHealth`'s; this only holds and locks them.
package final class HealthRegistry: Sendable {
    private struct State {
        var backends: [String: BackendHealth] = [:]
        var turns: [String: Int] = [:]
        var policy: CircuitBreakerPolicy
        var smartAI: SmartAISettings
    }

    private let state: Mutex<State>
    private let logger: Logger

    package init(settings: GatewaySettings, logger: Logger) {
        state = Mutex(State(policy: settings.circuitBreaker, smartAI: settings.smartAI))
        self.logger = logger
    }

    package static func now() -> Double { Date().timeIntervalSince1970 }

    /// How a backend looks to routing right now.
    package func status(of label: String, now: Double = now()) -> BackendStatus {
        state.withLock { state in
            guard let health = state.backends[label] else { return BackendStatus(confidence: state.smartAI.initialConfidence) }
            return Self.status(health, now: now)
        }
    }

    private static func status(_ health: BackendHealth, now: Double) -> BackendStatus {
        var openUntil: Double?
        if case .open(let until) = health.breaker.state { openUntil = until }
        return BackendStatus(
            breakerState: health.breaker.name, breakerAllows: health.breaker.allows(now: now), openUntil: openUntil,
            coolingDownUntil: health.isCoolingDown(now: now) ? health.coolingDownUntil : nil,
            latencyMilliseconds: health.latencyMilliseconds, successRate: health.successRate, recoveryFactor: health.recoveryFactor,
            confidence: health.currentConfidence(now: now), requests: health.requests, failures: health.failures,
            timesOpened: health.timesOpened)
    }

    /// Reserves an attempt on a backend; false when its half-open probe is already taken.
    package func acquire(_ label: String, now: Double = now()) -> Bool {
        state.withLock { state in
            var health = state.backends[label] ?? BackendHealth(policy: state.policy, smartAI: state.smartAI, now: now)
            let allowed = health.acquire(now: now)
            state.backends[label] = health
            return allowed
        }
    }

    package func record(_ label: String, success: Bool, latencyMilliseconds: Double?, reason: String? = nil, now: Double = now()) {
        let transition = state.withLock { state -> CircuitBreaker.Transition? in
            var health = state.backends[label] ?? BackendHealth(policy: state.policy, smartAI: state.smartAI, now: now)
            let transition = health.record(success: success, latencyMilliseconds: latencyMilliseconds, now: now)
            state.backends[label] = health
            return transition
        }
        if let transition {
            logger.notice(
                "circuit breaker transition",
                metadata: [
                    "backend": .string(label), "breaker.from": .string(transition.from), "breaker.to": .string(transition.to),
                    "breaker.reason": .string(transition.reason), "last.error": .string(reason ?? ""),
                ])
        }
    }

    package func coolDown(_ label: String, until: Double) {
        state.withLock { state in
            var health = state.backends[label] ?? BackendHealth(policy: state.policy, smartAI: state.smartAI, now: until)
            health.coolDown(until: until)
            state.backends[label] = health
        }
    }

    /// The next round-robin turn of a model; `advance: false` only looks (for dry runs).
    package func nextTurn(for model: String, advance: Bool = true) -> Int {
        state.withLock { state in
            let turn = state.turns[model, default: 0]
            if advance { state.turns[model] = turn &+ 1 }
            return turn
        }
    }
}
