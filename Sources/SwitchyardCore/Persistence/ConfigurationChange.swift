/// One row of the audit log: who changed what, from where, and how it looked before and after.
package struct AuditEntry: Sendable, Hashable, Codable {
    package enum Source: String, Sendable, Hashable, Codable {
        case seed, api, rollout, system
    }

    package var id: Int64?
    /// Seconds since 1970.
    package var time: Double
    /// Admin token name, or `seed`, `rollout`, `system`.
    package var actor: String
    package var source: Source
    /// `model:chat`, `rollout:r-…`, …
    package var object: String
    package var action: String
    package var before: String?
    package var after: String?

    package init(
        id: Int64? = nil, time: Double, actor: String, source: Source, object: String, action: String, before: String?, after: String?
    ) {
        self.id = id
        self.time = time
        self.actor = actor
        self.source = source
        self.object = object
        self.action = action
        self.before = before
        self.after = after
    }
}

/// A change made outside the seed: objects to write, the rollout it concerns, and its audit rows,
/// applied in one transaction.
package struct ConfigurationChange: Sendable {
    package var objects: [ConfigurationObject] = []
    /// Keys (`provider:ID`, `model:NAME`, `user:ID`) of objects to delete.
    package var deletedObjects: [String] = []
    package var rollout: Rollout?
    /// A line for the rollout's event history (`rollout_events`), when the rollout changed state.
    package var rolloutEvent: String?
    /// An experiment created or changed, or the id of one deleted.
    package var experiment: Experiment?
    package var deletedExperiment: String?
    package var audit: [AuditEntry] = []

    package init(
        objects: [ConfigurationObject] = [], rollout: Rollout? = nil, rolloutEvent: String? = nil, experiment: Experiment? = nil,
        deletedExperiment: String? = nil, audit: [AuditEntry] = []
    ) {
        self.objects = objects
        self.rollout = rollout
        self.rolloutEvent = rolloutEvent
        self.experiment = experiment
        self.deletedExperiment = deletedExperiment
        self.audit = audit
    }
}

/// When a version was created and last written.
package struct VersionTimes: Sendable, Hashable {
    /// Seconds since 1970.
    package var createdAt: Double
    package var updatedAt: Double

    package init(createdAt: Double, updatedAt: Double) {
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

/// Where changes made at run time, rollouts and the audit log are kept.
package protocol ReleaseRepository: Sendable {
    func apply(_ change: ConfigurationChange) async throws
    func loadRollouts() async throws -> [Rollout]
    func loadRollout(id: String) async throws -> Rollout?
    /// The rollouts the query selects, newest first (start time, then id, both descending), at most
    /// `query.limit`; filtered and ordered by the store, not in memory.
    func rolloutSummaries(_ query: RolloutQuery) async throws -> [RolloutSummary]
    func loadExperiments() async throws -> [Experiment]
    /// By version name; versions the store keeps no times for are missing.
    func versionTimes(model: String) async throws -> [String: VersionTimes]
    /// Newest first.
    func auditLog(object: String?, since: Double?, limit: Int) async throws -> [AuditEntry]
}

/// A quality score a client gave a served request of an experiment.
package struct ExperimentFeedback: Sendable, Hashable {
    package var experiment: String
    package var variant: String
    package var requestID: String
    package var score: Double
    package var user: String?
    /// Seconds since 1970.
    package var time: Double

    package init(experiment: String, variant: String, requestID: String, score: Double, user: String?, time: Double) {
        self.experiment = experiment
        self.variant = variant
        self.requestID = requestID
        self.score = score
        self.user = user
        self.time = time
    }
}

/// What experiments recorded: per-variant totals from the rollups, request assignments and feedback.
package protocol ExperimentRepository: Sendable {
    /// By variant id.
    func experimentTotals(_ experiment: String) async throws -> [String: VariantTotals]
    /// The experiment and variant a recorded request met; `nil` when the request is unknown or met none.
    func assignment(ofRequest requestID: String) async throws -> (experiment: String, variant: String)?
    /// Stores a score; a second score for the same request replaces the first.
    func saveFeedback(_ feedback: ExperimentFeedback) async throws
}
