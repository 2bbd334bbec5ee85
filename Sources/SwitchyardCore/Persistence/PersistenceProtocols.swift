/// Takes outcome events off the request path. `record` never waits for storage.
package protocol OutcomeSink: Sendable {
    func record(_ event: OutcomeEvent)
    /// Makes every event recorded so far readable from storage.
    func flush() async throws
}

extension OutcomeSink {
    package func flush() async throws {}
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

/// Reads what was spent and used, from the recorded outcomes.
package protocol UsageRepository: Sendable {
    /// USD recorded per user since `time` (seconds since 1970).
    func spendByUser(since time: Double) async throws -> [String: Double]
    /// Requests, tokens and cost grouped by `groupBy` (`user`, `model`, `version`, `day`, `endpoint`), filtered.
    func usage(_ query: UsageQuery) async throws -> [UsageRow]
}

package struct UsageQuery: Sendable, Hashable {
    package enum Grouping: String, Sendable, CaseIterable { case user, model, version, day, endpoint }

    package var user: String?
    package var model: String?
    /// The client API path without `/v1/` (`chat/completions`, `responses`, `messages`, …).
    package var endpoint: String?
    package var from: Double?
    package var to: Double?
    package var groupBy: Grouping

    package init(user: String? = nil, model: String? = nil, from: Double? = nil, to: Double? = nil, groupBy: Grouping = .user) {
        self.user = user
        self.model = model
        self.from = from
        self.to = to
        self.groupBy = groupBy
    }
}

package struct UsageRow: Sendable, Hashable {
    package var key: String
    package var requests: Int
    package var errors: Int
    package var inputTokens: Int
    package var outputTokens: Int
    package var costUSD: Double
    /// Shadow copies, on their own line: never part of a user's usage.
    package var shadow: Bool
    /// The parts of `inputTokens` read from and written to the providers' prompt caches.
    package var cachedInputTokens: Int
    package var cacheWriteTokens: Int

    package init(
        key: String, requests: Int, errors: Int, inputTokens: Int, outputTokens: Int, costUSD: Double, shadow: Bool = false,
        cachedInputTokens: Int = 0, cacheWriteTokens: Int = 0
    ) {
        self.shadow = shadow
        self.cachedInputTokens = cachedInputTokens
        self.cacheWriteTokens = cacheWriteTokens
        self.key = key
        self.requests = requests
        self.errors = errors
        self.inputTokens = inputTokens
        self.outputTokens = outputTokens
        self.costUSD = costUSD
    }
}

/// The models a provider said it offers, as last fetched.
package struct ProviderModels: Sendable, Hashable, Codable {
    package var provider: String
    package var models: [String]
    /// Seconds since 1970.
    package var fetchedAt: Double
    /// Why the last fetch failed; the models are then those of the last success, if any.
    package var error: String?

    package init(provider: String, models: [String], fetchedAt: Double, error: String? = nil) {
        self.provider = provider
        self.models = models
        self.fetchedAt = fetchedAt
        self.error = error
    }
}

/// Where discovered model lists are cached.
package protocol ModelCatalogRepository: Sendable {
    func saveProviderModels(_ models: ProviderModels) async throws
    func loadProviderModels(_ provider: String) async throws -> ProviderModels?
}

/// `GET /api/stats/timeseries`: buckets of `step` seconds from `from` (inclusive) to `to` (exclusive).
package struct TimeseriesQuery: Sendable, Hashable {
    package var model: String?
    package var version: String?
    package var backend: String?
    package var from: Double
    package var to: Double
    package var step: Int

    package init(model: String? = nil, version: String? = nil, backend: String? = nil, from: Double, to: Double, step: Int) {
        self.model = model
        self.version = version
        self.backend = backend
        self.from = from
        self.to = to
        self.step = step
    }

    /// Number of buckets.
    package var count: Int { max(0, Int(((to - from) / Double(step)).rounded(.up))) }
}

/// One bucket of traffic.
package struct TimeseriesPoint: Sendable, Hashable {
    package var time: Double
    package var requests = 0
    package var errors = 0
    package var latency = LatencyHistogram()
    package var ttft = LatencyHistogram()
    package var inputTokens = 0
    package var outputTokens = 0
    package var costUSD = 0.0

    package init(time: Double) {
        self.time = time
    }
}

/// Reads traffic over time from the per-minute rollups.
/// Shadow copies as recorded: each with the primary it copied, and the kept answer pairs.
package protocol ShadowRepository: Sendable {
    /// The newest `limit` copies to `model`'s `version` since `since`, newest first.
    func shadowPairs(model: String, version: String, since: Double, limit: Int) async throws -> [ShadowPairRecord]
    /// The kept pairs that differ most, least alike first.
    func shadowExamples(model: String, version: String, limit: Int) async throws -> [ShadowExampleRecord]
}

package protocol StatsRepository: Sendable {
    /// One point per bucket of the query, empty buckets included.
    func timeseries(_ query: TimeseriesQuery) async throws -> [TimeseriesPoint]
}

/// Tells an instance that another instance changed the stored configuration, when several share one
/// database (PostgreSQL). The SQLite store has none: one process owns its file.
package protocol ConfigurationChangeFeed: Sendable {
    /// Runs until cancelled, calling `changed` after another instance commits a change, and after
    /// every (re)connection, since a change may have been missed while not listening. Connection
    /// failures are retried inside, never thrown.
    func follow(_ changed: @escaping @Sendable () async -> Void) async
}

/// Chooses the one instance that runs the periodic writers (rollout steps and analysis, experiment
/// schedules) when several share one database. Without one, this process is the only instance.
package protocol ControllerElection: Sendable {
    /// Whether this instance is the controller now.
    var isController: Bool { get }
    /// Runs until cancelled: takes the role when it is free, and notices losing it.
    func campaign() async
}

/// Outcomes of one version over a time window as every instance recorded them: what the
/// controller judges a rollout on when several instances serve its traffic.
package protocol OutcomeWindowRepository: Sendable {
    /// The requests `version` of `model` served since `since` (or, `shadow`, the copies it got);
    /// client departures (499) are not counted as its errors.
    func window(model: String, version: String, since: Double, shadow: Bool) async throws -> VersionWindow
}

/// A conversation binding another instance made or removed.
package enum SessionChange: Sendable, Hashable {
    case saved(SessionBinding)
    /// Every user's conversation with this id.
    case deleted(String)
    /// The feed (re)connected: changes may have been missed, read all bindings again.
    case reload
}

/// Tells an instance about the conversation bindings other instances on a shared database make,
/// so a conversation bound on one is honoured on the others.
package protocol SessionChangeFeed: Sendable {
    /// Runs until cancelled; connection failures are retried inside, each (re)connection reported as `.reload`.
    func follow(_ changed: @escaping @Sendable (SessionChange) async -> Void) async
}

/// Per-user limits counted where every instance sees them. Request limits: one atomic step per
/// admission, so that N instances together admit no more than one would. Tokens per minute and
/// budgets: checked against counters every instance adds to as its requests end.
package protocol SharedLimits: Sendable {
    /// Admits one request of `request.user`, or refuses it, measured on the shared clock.
    func admit(_ request: SharedAdmissionRequest) async throws -> SharedAdmission
}

/// One request to admit against a user's limits on the shared database.
package struct SharedAdmissionRequest: Sendable, Hashable {
    package var user: String
    package var rateLimit: RateLimitSpec
    package var budget: BudgetSpec?
    /// The request's estimated tokens, held against `tokens_per_minute`.
    package var estimatedTokens: Int

    package init(user: String, rateLimit: RateLimitSpec = RateLimitSpec(), budget: BudgetSpec? = nil, estimatedTokens: Int = 0) {
        self.user = user
        self.rateLimit = rateLimit
        self.budget = budget
        self.estimatedTokens = estimatedTokens
    }
}

package struct SharedAdmission: Sendable, Equatable {
    /// Which limit refused a request.
    package enum Refusal: String, Sendable {
        case requestsPerMinute = "requests_per_minute"
        case requestsPerHour = "requests_per_hour"
        case tokensPerMinute = "tokens_per_minute"
        case dailyBudget = "daily_budget"
        case monthlyBudget = "monthly_budget"
    }

    package var refusal: Refusal?
    /// Seconds until a request refused by a rate limit would be admitted; 0 otherwise.
    package var retryAfter: Double
    /// Requests admitted in the last 60 s, this one included when admitted (0 without request limits).
    package var minuteRequests: Int
    /// Seconds until the oldest of them leaves the minute.
    package var requestsResetSeconds: Double
    /// Tokens the user's finished requests used in the last minute, on every instance.
    package var minuteTokens: Int
    package var tokensResetSeconds: Double
    /// Recorded spend of the current UTC day and month (0 without a budget).
    package var daySpendUSD: Double
    package var monthSpendUSD: Double
    /// The shared clock's time of this admission.
    package var now: Double

    package var admitted: Bool { refusal == nil }

    package init(
        refusal: Refusal? = nil, retryAfter: Double = 0, minuteRequests: Int = 0, requestsResetSeconds: Double = 0, minuteTokens: Int = 0,
        tokensResetSeconds: Double = 0, daySpendUSD: Double = 0, monthSpendUSD: Double = 0, now: Double
    ) {
        self.refusal = refusal
        self.retryAfter = retryAfter
        self.minuteRequests = minuteRequests
        self.requestsResetSeconds = requestsResetSeconds
        self.minuteTokens = minuteTokens
        self.tokensResetSeconds = tokensResetSeconds
        self.daySpendUSD = daySpendUSD
        self.monthSpendUSD = monthSpendUSD
        self.now = now
    }
}
