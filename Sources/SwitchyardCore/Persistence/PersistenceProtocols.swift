/// Takes outcome events off the request path. `record` never waits for storage.
package protocol OutcomeSink: Sendable {
    func record(_ event: OutcomeEvent)
}

/// Where the effective configuration is kept and how a seed is applied to it.
package protocol ConfigurationRepository: Sendable {
    /// The stored configuration, disabled objects included.
    func loadConfiguration() async throws -> ConfigurationSpec
    /// Reconciles a validated seed per object: changed objects are applied, unchanged ones keep later
    /// edits, removed ones are disabled. Returns what changed.
    func applySeed(_ spec: ConfigurationSpec) async throws -> SeedApplyReport
}

/// What applying a seed changed, object by object (`provider:openai`, `model:chat`, `user:alice`, `settings`).
package struct SeedApplyReport: Sendable, Hashable {
    package var created: [String] = []
    package var updated: [String] = []
    package var disabled: [String] = []
    package var unchanged: [String] = []

    package init() {}
}

/// Where conversation bindings are kept so they survive a restart.
package protocol SessionRepository: Sendable {
    /// Bindings that have not expired by `now`.
    func loadSessions(now: Double) async throws -> [SessionBinding]
    func saveSession(_ binding: SessionBinding) async throws
    /// Deletes the conversation `id` of every user.
    func deleteSession(id: String) async throws
    /// Removes bindings that expired before `now`.
    func purgeSessions(expiredBefore now: Double) async throws
}
