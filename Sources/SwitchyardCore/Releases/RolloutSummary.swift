/// A rollout as a list of rollouts shows it: how far it got and how it ended, without its steps,
/// analysis or evaluations (those stay with `GET /api/rollouts/{id}`).
package struct RolloutSummary: Sendable, Hashable {
    package var id: String
    package var model: String
    package var canary: String
    package var stable: String
    package var state: Rollout.State
    package var reason: String?
    /// Seconds since 1970.
    package var startedAt: Double
    /// When it was promoted or aborted; `nil` while it runs.
    package var endedAt: Double?
    /// Index of the step in effect; `stepCount` once all are done.
    package var currentStep: Int
    package var stepCount: Int
    package var canaryWeightBasisPoints: Int
    /// Evaluations kept (at most `Rollout.maxEvaluationsKept`).
    package var evaluationCount: Int
    /// The shadow step's outcome (`Rollout.shadowVerdict`); `nil` without one.
    package var shadowVerdict: String?

    package init(
        id: String, model: String, canary: String, stable: String, state: Rollout.State, reason: String?, startedAt: Double, endedAt: Double?,
        currentStep: Int, stepCount: Int, canaryWeightBasisPoints: Int, evaluationCount: Int, shadowVerdict: String? = nil
    ) {
        self.id = id
        self.model = model
        self.canary = canary
        self.stable = stable
        self.state = state
        self.reason = reason
        self.startedAt = startedAt
        self.endedAt = endedAt
        self.currentStep = currentStep
        self.stepCount = stepCount
        self.canaryWeightBasisPoints = canaryWeightBasisPoints
        self.evaluationCount = evaluationCount
        self.shadowVerdict = shadowVerdict
    }

    package init(_ rollout: Rollout) {
        self.init(
            id: rollout.id, model: rollout.model, canary: rollout.canary, stable: rollout.stable, state: rollout.state, reason: rollout.reason,
            startedAt: rollout.createdAt, endedAt: rollout.endedAt, currentStep: rollout.currentStep, stepCount: rollout.steps.count,
            canaryWeightBasisPoints: rollout.canaryWeightBasisPoints, evaluationCount: rollout.evaluations.count,
            shadowVerdict: rollout.shadowVerdict)
    }

    /// Steps that took effect: those done and the one in effect (all of them once promoted, even
    /// when a full promote skipped some).
    package var stepsReached: Int { min(currentStep + 1, stepCount) }

    /// Where the next page starts: after this rollout.
    package var cursor: RolloutCursor { RolloutCursor(startedAt: startedAt, id: id) }
}

/// A position in the newest-first order of rollouts (start time, then id, both descending).
///
/// A page that starts after a position holds exactly the rollouts that came after it in that
/// order when it is read: rollouts started since the previous page sort before it, so paging on
/// never repeats or skips one, unlike an offset.
package struct RolloutCursor: Sendable, Hashable {
    /// Seconds since 1970.
    package var startedAt: Double
    package var id: String

    package init(startedAt: Double, id: String) {
        self.startedAt = startedAt
        self.id = id
    }

    /// Whether `summary` comes after this position, newest first.
    package func precedes(_ summary: RolloutSummary) -> Bool {
        summary.startedAt < startedAt || (summary.startedAt == startedAt && summary.id < id)
    }
}

/// Which stored rollouts to list, newest first.
package struct RolloutQuery: Sendable, Hashable {
    package var model: String?
    package var state: Rollout.State?
    /// Only rollouts started at or after this time (seconds since 1970).
    package var since: Double?
    /// Only rollouts after this position: the last one of the previous page.
    package var after: RolloutCursor?
    package var limit: Int

    package init(model: String? = nil, state: Rollout.State? = nil, since: Double? = nil, after: RolloutCursor? = nil, limit: Int) {
        self.model = model
        self.state = state
        self.since = since
        self.after = after
        self.limit = limit
    }

    /// Whether `summary` is one of the rollouts this query selects (before the limit).
    package func matches(_ summary: RolloutSummary) -> Bool {
        (model == nil || summary.model == model) && (state == nil || summary.state == state)
            && (since.map { summary.startedAt >= $0 } ?? true) && (after?.precedes(summary) ?? true)
    }
}

extension RolloutSummary {
    /// The newest-first order of rollout lists: start time, then id, both descending.
    package static func newestFirst(_ a: RolloutSummary, _ b: RolloutSummary) -> Bool {
        a.startedAt != b.startedAt ? a.startedAt > b.startedAt : a.id > b.id
    }
}
