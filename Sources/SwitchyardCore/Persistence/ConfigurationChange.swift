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
    package var rollout: Rollout?
    /// A line for the rollout's event history (`rollout_events`), when the rollout changed state.
    package var rolloutEvent: String?
    package var audit: [AuditEntry] = []

    package init(objects: [ConfigurationObject] = [], rollout: Rollout? = nil, rolloutEvent: String? = nil, audit: [AuditEntry] = []) {
        self.objects = objects
        self.rollout = rollout
        self.rolloutEvent = rolloutEvent
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
    /// By version name; versions the store keeps no times for are missing.
    func versionTimes(model: String) async throws -> [String: VersionTimes]
    /// Newest first.
    func auditLog(object: String?, since: Double?, limit: Int) async throws -> [AuditEntry]
}
