import Foundation

/// One step of a rollout.
package enum RolloutStep: Sendable, Hashable, Codable {
    /// Give the canary this share of traffic, in basis points; the default version absorbs the difference.
    case setWeight(basisPoints: Int)
    /// Wait this long before the next step, or (`nil`) until someone promotes.
    case pause(seconds: Double?)
    /// Copy a share of the requests to the canary, which serves no one, and judge its copies against
    /// the stable version's answers; the next step runs once `duration` is over and a judgement passed.
    case shadow(ShadowStep)
}

/// The shadow step a rollout may open with.
package struct ShadowStep: Sendable, Hashable, Codable {
    package var shareBasisPoints: Int
    package var durationSeconds: Double
    /// Shadow copies (and stable answers) needed before a judgement; overrides the analysis' `min_requests`.
    package var minRequests: Int

    package init(shareBasisPoints: Int, durationSeconds: Double, minRequests: Int) {
        self.shareBasisPoints = shareBasisPoints
        self.durationSeconds = durationSeconds
        self.minRequests = minRequests
    }
}

/// How a rollout judges its canary against the stable version.
package struct RolloutAnalysis: Sendable, Hashable, Codable {
    package var intervalSeconds: Double = 30
    /// Outcomes older than this (or from before the current step) are not judged.
    package var windowSeconds: Double = 300
    /// Requests each version needs in the window before a judgement.
    package var minRequests: Int = 50
    package var maxErrorRate: Double?
    package var maxP95LatencyMilliseconds: Double?
    package var maxP95TTFTMilliseconds: Double?
    /// How much worse than the stable version's the canary's error rate may be (absolute, e.g. 0.02).
    package var maxErrorRateIncrease: Double?
    /// Canary p95 latency over the stable version's.
    package var maxLatencyRatio: Double?
    /// Shadow steps only: the least mean similarity of the canary's answers to the stable version's (0…1).
    package var minAgreement: Double?
    package var significance: Double = 0.05
    /// Consecutive failed evaluations before the rollout aborts.
    package var failureLimit: Int = 2

    package init() {}

    /// Defaults that judge something even when none is given: error rate no more than 5 points above stable.
    package static let standard: RolloutAnalysis = {
        var analysis = RolloutAnalysis()
        analysis.maxErrorRateIncrease = 0.05
        return analysis
    }()
}

/// Outcomes of one version over an evaluation window.
package struct VersionWindow: Sendable, Hashable, Codable {
    package var requests: Int
    package var errors: Int
    package var p95LatencyMilliseconds: Double?
    package var p95TTFTMilliseconds: Double?
    /// Shadow copies only: the mean similarity of their answers to the primary's (see `AnswerAgreement`).
    package var meanAgreement: Double?

    package init(
        requests: Int, errors: Int, p95LatencyMilliseconds: Double? = nil, p95TTFTMilliseconds: Double? = nil, meanAgreement: Double? = nil
    ) {
        self.requests = requests
        self.errors = errors
        self.p95LatencyMilliseconds = p95LatencyMilliseconds
        self.p95TTFTMilliseconds = p95TTFTMilliseconds
        self.meanAgreement = meanAgreement
    }

    package var errorRate: Double? {
        requests > 0 ? Double(errors) / Double(requests) : nil
    }
}

/// One guardrail's verdict, with the measured value behind it.
package struct RolloutCheck: Sendable, Hashable, Codable {
    package var name: String
    package var measured: Double?
    package var threshold: Double
    package var pValue: Double?
    package var passed: Bool
}

/// One analysis run: what was measured, against what, and what was decided.
package struct RolloutEvaluation: Sendable, Hashable, Codable {
    package var time: Double
    package var step: Int
    package var canary: VersionWindow
    package var stable: VersionWindow
    package var checks: [RolloutCheck]
    /// `pass`, `fail`, `insufficient_data`.
    package var result: String
    package var decision: String
}

/// A controlled move of a model's traffic to a canary version: the state machine, with time passed in.
///
/// `progressing → paused → progressing … → promoted`, or `→ aborted` (canary at 0, default unchanged).
package struct Rollout: Sendable, Hashable, Codable {
    package enum State: String, Sendable, Hashable, Codable, CaseIterable {
        case progressing, paused, promoted, aborted
    }

    /// What the gateway must do after a transition.
    package enum Action: Sendable, Hashable {
        case setCanaryWeight(basisPoints: Int)
        /// The canary becomes the default version with all traffic.
        case promote
        /// The canary gets no traffic; the default version is unchanged.
        case abort
    }

    package var id: String
    package var model: String
    package var canary: String
    /// The default version when the rollout started: what the canary is compared with.
    package var stable: String
    package var steps: [RolloutStep]
    package var analysis: RolloutAnalysis
    package var state: State = .progressing
    /// Index of the step in effect; `steps.count` once all are done.
    package var currentStep = 0
    package var stepStartedAt: Double
    /// `step`, `manual`, `insufficient_data` while paused; the abort reason once aborted.
    package var reason: String?
    package var canaryWeightBasisPoints = 0
    package var consecutiveFailures = 0
    /// The result of the latest evaluation during the current step (`pass`, `fail`, `insufficient_data`).
    package var lastResultInStep: String?
    package var nextEvaluationAt: Double
    package var evaluations: [RolloutEvaluation] = []
    package var createdAt: Double
    package var updatedAt: Double

    package static let maxEvaluationsKept = 500

    package init(id: String, model: String, canary: String, stable: String, steps: [RolloutStep], analysis: RolloutAnalysis, now: Double) {
        self.id = id
        self.model = model
        self.canary = canary
        self.stable = stable
        self.steps = steps
        self.analysis = analysis
        stepStartedAt = now
        nextEvaluationAt = now + analysis.intervalSeconds
        createdAt = now
        updatedAt = now
    }

    package var isFinished: Bool { state == .promoted || state == .aborted }

    /// The shadow step in effect, while the rollout is unfinished and on one.
    package var currentShadowStep: ShadowStep? {
        guard !isFinished, currentStep < steps.count, case .shadow(let step) = steps[currentStep] else { return nil }
        return step
    }

    /// What the shadow step decided: `nil` without one; `running` while on it; `passed` once a later
    /// step ran; `failed` when the rollout ended on it by its analysis; `stopped` when ended on it otherwise.
    package var shadowVerdict: String? {
        guard let index = steps.firstIndex(where: { if case .shadow = $0 { true } else { false } }) else { return nil }
        if currentStep > index { return "passed" }
        guard currentStep == index else { return nil }
        switch state {
        case .progressing, .paused: return "running"
        case .aborted: return reason?.hasPrefix("analysis failed") == true ? "failed" : "stopped"
        case .promoted: return "passed"
        }
    }

    /// When it was promoted or aborted, `nil` while it runs: a finished rollout never changes
    /// again, so its last update is its end.
    package var endedAt: Double? { isFinished ? updatedAt : nil }

    /// Runs the steps that take effect now: weights are set at once; a timed pause ends when its time
    /// is up and the canary passed an evaluation during it; an open pause waits for a promote. Call
    /// after creation, on every tick and after a resume.
    package mutating func advance(now: Double) -> [Action] {
        guard state == .progressing || (state == .paused && (reason == "step" || reason == "insufficient_data")) else { return [] }
        var actions: [Action] = []
        while currentStep < steps.count {
            switch steps[currentStep] {
            case .setWeight(let basisPoints):
                canaryWeightBasisPoints = basisPoints
                actions.append(.setCanaryWeight(basisPoints: basisPoints))
                moveToNextStep(now: now)
            case .pause(let seconds?):
                let timeIsUp = now - stepStartedAt >= seconds
                if timeIsUp && lastResultInStep == "pass" {
                    moveToNextStep(now: now)
                    continue
                }
                state = .paused
                reason = timeIsUp && lastResultInStep != "fail" ? "insufficient_data" : "step"
                updatedAt = now
                return actions
            case .pause(nil):
                state = .paused
                reason = "step"
                updatedAt = now
                return actions
            case .shadow(let step):
                if now - stepStartedAt >= step.durationSeconds && lastResultInStep == "pass" {
                    moveToNextStep(now: now)
                    continue
                }
                return actions
            }
        }
        state = .promoted
        reason = nil
        canaryWeightBasisPoints = 10_000
        updatedAt = now
        actions.append(.promote)
        return actions
    }

    private mutating func moveToNextStep(now: Double) {
        currentStep += 1
        stepStartedAt = now
        consecutiveFailures = 0
        lastResultInStep = nil
        state = .progressing
        reason = nil
        updatedAt = now
    }

    /// Judges the canary on its window of outcomes against the stable version's.
    package mutating func evaluate(now: Double, canary: VersionWindow, stable: VersionWindow) -> [Action] {
        guard !isFinished, state != .paused || reason == "insufficient_data" || reason == "step" else {
            nextEvaluationAt = now + analysis.intervalSeconds
            return []
        }
        nextEvaluationAt = now + analysis.intervalSeconds
        let shadowStep = currentShadowStep
        let minRequests = shadowStep?.minRequests ?? analysis.minRequests
        let needsStable = analysis.maxErrorRateIncrease != nil || analysis.maxLatencyRatio != nil
        let enough = canary.requests >= minRequests && (!needsStable || stable.requests >= minRequests)
        guard enough else {
            let what = shadowStep == nil ? "canary" : "shadow"
            record(
                now: now, canary: canary, stable: stable, checks: [], result: "insufficient_data",
                decision: "waiting: \(canary.requests) \(what) and \(stable.requests) stable requests, \(minRequests) needed")
            if state == .progressing {
                state = .paused
                reason = "insufficient_data"
            }
            updatedAt = now
            return []
        }
        let checks = Self.checks(analysis, canary: canary, stable: stable, shadow: shadowStep != nil)
        let failed = checks.filter { !$0.passed }
        if failed.isEmpty {
            consecutiveFailures = 0
            record(now: now, canary: canary, stable: stable, checks: checks, result: "pass", decision: "continue")
            if state == .paused && reason == "insufficient_data" {
                state = .progressing
                reason = nil
            }
            updatedAt = now
            return advance(now: now)
        }
        consecutiveFailures += 1
        let names = failed.map(\.name).joined(separator: ", ")
        guard consecutiveFailures >= analysis.failureLimit else {
            record(
                now: now, canary: canary, stable: stable, checks: checks, result: "fail",
                decision: "failed \(names) (\(consecutiveFailures) of \(analysis.failureLimit) before abort)")
            updatedAt = now
            return []
        }
        let reason = "analysis failed \(consecutiveFailures) times in a row: \(names)"
        record(now: now, canary: canary, stable: stable, checks: checks, result: "fail", decision: "abort: \(reason)")
        return abort(reason: reason, now: now)
    }

    private mutating func record(
        now: Double, canary: VersionWindow, stable: VersionWindow, checks: [RolloutCheck], result: String, decision: String
    ) {
        lastResultInStep = result
        evaluations.append(
            RolloutEvaluation(time: now, step: currentStep, canary: canary, stable: stable, checks: checks, result: result, decision: decision))
        if evaluations.count > Self.maxEvaluationsKept {
            evaluations.removeFirst(evaluations.count - Self.maxEvaluationsKept)
        }
    }

    static func checks(_ analysis: RolloutAnalysis, canary: VersionWindow, stable: VersionWindow, shadow: Bool = false) -> [RolloutCheck] {
        var checks: [RolloutCheck] = []
        if shadow, let limit = analysis.minAgreement {
            let value = canary.meanAgreement
            checks.append(RolloutCheck(name: "min_agreement", measured: value, threshold: limit, pValue: nil, passed: (value ?? 0) >= limit))
        }
        if let limit = analysis.maxErrorRate {
            let rate = canary.errorRate ?? 0
            checks.append(RolloutCheck(name: "max_error_rate", measured: rate, threshold: limit, pValue: nil, passed: rate <= limit))
        }
        if let limit = analysis.maxP95LatencyMilliseconds {
            let value = canary.p95LatencyMilliseconds
            checks.append(RolloutCheck(name: "max_p95_latency_ms", measured: value, threshold: limit, pValue: nil, passed: (value ?? 0) <= limit))
        }
        if let limit = analysis.maxP95TTFTMilliseconds {
            let value = canary.p95TTFTMilliseconds
            checks.append(RolloutCheck(name: "max_p95_ttft_ms", measured: value, threshold: limit, pValue: nil, passed: (value ?? 0) <= limit))
        }
        if let margin = analysis.maxErrorRateIncrease {
            let increase = (canary.errorRate ?? 0) - (stable.errorRate ?? 0)
            let pValue = Statistics.errorRateIncreasePValue(
                canaryErrors: canary.errors, canaryRequests: canary.requests, stableErrors: stable.errors, stableRequests: stable.requests,
                margin: margin)
            checks.append(
                RolloutCheck(
                    name: "max_error_rate_increase", measured: increase, threshold: margin, pValue: pValue,
                    passed: pValue >= analysis.significance))
        }
        if let limit = analysis.maxLatencyRatio, let canaryP95 = canary.p95LatencyMilliseconds, let stableP95 = stable.p95LatencyMilliseconds,
            stableP95 > 0
        {
            let ratio = canaryP95 / stableP95
            checks.append(RolloutCheck(name: "max_latency_ratio", measured: ratio, threshold: limit, pValue: nil, passed: ratio <= limit))
        }
        return checks
    }

    // MARK: Manual control

    /// Skips to the next step, or (`full`) promotes at once.
    package mutating func promote(full: Bool, now: Double) -> [Action] {
        guard !isFinished else { return [] }
        if full {
            currentStep = steps.count
        } else if currentStep < steps.count {
            moveToNextStep(now: now)
        }
        state = .progressing
        reason = nil
        return advance(now: now)
    }

    package mutating func pause(now: Double) {
        guard !isFinished else { return }
        state = .paused
        reason = "manual"
        updatedAt = now
    }

    package mutating func resume(now: Double) -> [Action] {
        guard state == .paused, reason == "manual" || reason == "insufficient_data" else { return [] }
        state = .progressing
        reason = nil
        updatedAt = now
        return advance(now: now)
    }

    package mutating func abort(reason: String, now: Double) -> [Action] {
        guard !isFinished else { return [] }
        state = .aborted
        self.reason = reason
        canaryWeightBasisPoints = 0
        updatedAt = now
        return [.abort]
    }
}
