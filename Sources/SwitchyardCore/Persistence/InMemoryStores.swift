import Foundation
import Synchronization

/// Keeps outcome events in memory: for tests and for running without a database.
package final class InMemoryOutcomeSink: OutcomeSink, UsageRepository, ExperimentRepository, StatsRepository, ShadowRepository {
    private let events = Mutex<[OutcomeEvent]>([])
    private let feedback = Mutex<[String: ExperimentFeedback]>([:])

    package init() {}

    package func record(_ event: OutcomeEvent) {
        events.withLock { $0.append(event) }
    }

    package var recorded: [OutcomeEvent] {
        events.withLock { $0 }
    }

    package func timeseries(_ query: TimeseriesQuery) async throws -> [TimeseriesPoint] {
        var points = (0..<query.count).map { TimeseriesPoint(time: query.from + Double($0 * query.step)) }
        for event in recorded where event.time >= query.from && event.time < query.to {
            guard query.model.map({ $0 == event.model }) ?? true, query.version.map({ $0 == event.version }) ?? true,
                query.backend.map({ $0 == event.backend }) ?? true
            else { continue }
            let index = Int((event.time - query.from) / Double(query.step))
            guard points.indices.contains(index) else { continue }
            points[index].requests += 1
            points[index].errors += event.isError ? 1 : 0
            points[index].latency.add(milliseconds: event.latencyMilliseconds)
            if let ttft = event.timeToFirstTokenMilliseconds { points[index].ttft.add(milliseconds: ttft) }
            points[index].inputTokens += event.inputTokens
            points[index].outputTokens += event.outputTokens
            points[index].costUSD += event.costUSD
        }
        return points
    }

    package func experimentTotals(_ experiment: String) async throws -> [String: VariantTotals] {
        var totals: [String: VariantTotals] = [:]
        for event in recorded where event.experiment == experiment {
            totals[event.variant ?? "", default: VariantTotals()].add(event)
        }
        for score in feedback.withLock({ Array($0.values) }) where score.experiment == experiment {
            totals[score.variant, default: VariantTotals()].feedback.add(score.score)
        }
        return totals
    }

    package func assignment(ofRequest requestID: String) async throws -> (experiment: String, variant: String)? {
        guard let event = recorded.first(where: { $0.requestID == requestID }), let experiment = event.experiment else { return nil }
        return (experiment, event.variant ?? "")
    }

    package func saveFeedback(_ score: ExperimentFeedback) async throws {
        feedback.withLock { $0[score.experiment + "\u{0}" + score.requestID] = score }
    }

    package func shadowPairs(model: String, version: String, since: Double, limit: Int) async throws -> [ShadowPairRecord] {
        let events = recorded
        func answer(_ event: OutcomeEvent) -> AnswerRecord {
            AnswerRecord(
                status: event.status, latencyMilliseconds: event.latencyMilliseconds,
                timeToFirstTokenMilliseconds: event.timeToFirstTokenMilliseconds,
                inputTokens: event.inputTokens, outputTokens: event.outputTokens, costUSD: event.costUSD)
        }
        return events.filter { $0.shadow && $0.model == model && $0.version == version && $0.time >= since }.suffix(limit).reversed().map { copy in
            ShadowPairRecord(
                shadow: answer(copy), primary: events.last { !$0.shadow && $0.requestID == copy.requestID }.map(answer),
                similarity: copy.agreement?.similarity, exactMatch: copy.agreement?.exactMatch)
        }
    }

    package func shadowExamples(model: String, version: String, limit: Int) async throws -> [ShadowExampleRecord] {
        let copies = recorded.filter { $0.shadow && $0.model == model && $0.version == version }
        // As the SQLite store keeps them: the pairs that differ most, as many as the newest copy's `keep_examples`.
        let keep = copies.last { $0.agreement?.example != nil }?.agreement?.example?.keep ?? 0
        let kept = copies.compactMap { event -> ShadowExampleRecord? in
            guard let agreement = event.agreement, let example = agreement.example else { return nil }
            return ShadowExampleRecord(
                requestID: event.requestID, time: event.time, similarity: agreement.similarity, primaryText: example.primary,
                shadowText: example.shadow)
        }
        return Array(kept.sorted { ($0.similarity, -$0.time) < ($1.similarity, -$1.time) }.prefix(min(limit, keep)))
    }

    package func spendByUser(since time: Double) async throws -> [String: Double] {
        recorded.filter { $0.time >= time && !$0.shadow }.reduce(into: [:]) { $0[$1.userID, default: 0] += $1.costUSD }
    }

    package func usage(_ query: UsageQuery) async throws -> [UsageRow] {
        var rows: [String: UsageRow] = [:]
        for event in recorded {
            guard query.user.map({ $0 == event.userID && !event.shadow }) ?? true, query.model.map({ $0 == event.model }) ?? true,
                query.endpoint.map({ $0 == event.endpoint }) ?? true, query.from.map({ event.time >= $0 }) ?? true,
                query.to.map({ event.time < $0 }) ?? true
            else { continue }
            let key: String
            switch query.groupBy {
            case .user: key = event.userID
            case .model: key = event.model
            case .version: key = "\(event.model)/\(event.version)"
            case .day: key = Date(timeIntervalSince1970: event.time).formatted(.iso8601.year().month().day())
            case .endpoint: key = event.endpoint
            }
            let rowKey = event.shadow ? key + "\u{0}shadow" : key
            var row = rows[rowKey] ?? UsageRow(key: key, requests: 0, errors: 0, inputTokens: 0, outputTokens: 0, costUSD: 0, shadow: event.shadow)
            row.requests += 1
            row.errors += event.isError ? 1 : 0
            row.inputTokens += event.inputTokens
            row.cachedInputTokens += event.cachedInputTokens
            row.cacheWriteTokens += event.cacheWriteTokens
            row.outputTokens += event.outputTokens
            row.costUSD += event.costUSD
            rows[rowKey] = row
        }
        return rows.values.sorted { ($0.key, $0.shadow ? 1 : 0) < ($1.key, $1.shadow ? 1 : 0) }
    }
}

/// Keeps the configuration in memory, reconciling seeds exactly as the SQLite store does.
package final class InMemoryConfigurationRepository: ConfigurationRepository {
    fileprivate struct State {
        var configuration = ConfigurationSpec()
        var appliedFingerprints: [String: String] = [:]
    }

    fileprivate let state = Mutex(State())

    package init() {}

    package func loadConfiguration() async throws -> ConfigurationSpec {
        state.withLock { $0.configuration }
    }

    package func applySeed(_ seed: ConfigurationSpec) async throws -> SeedApplyReport {
        state.withLock { state in
            let plan = SeedPlan(seed: seed, stored: state.configuration, appliedFingerprints: state.appliedFingerprints)
            for change in plan.changes {
                state.configuration.put(change.after)
            }
            state.appliedFingerprints = plan.appliedFingerprints
            return plan.report
        }
    }
}

/// Keeps conversation bindings in memory: for tests and for running without a database.
package final class InMemorySessionRepository: SessionRepository {
    private let sessions = Mutex<[String: SessionBinding]>([:])

    package init() {}

    private static func key(_ binding: SessionBinding) -> String {
        binding.userID + "\u{0}" + binding.sessionID
    }

    package func loadSessions(now: Double) async throws -> [SessionBinding] {
        sessions.withLock { $0.values.filter { $0.expiresAt > now } }
    }

    package func saveSession(_ binding: SessionBinding) async throws {
        sessions.withLock { $0[Self.key(binding)] = binding }
    }

    package func deleteSession(id: String) async throws {
        sessions.withLock { $0 = $0.filter { $0.value.sessionID != id } }
    }

    package func purgeSessions(expiredBefore now: Double) async throws {
        sessions.withLock { $0 = $0.filter { $0.value.expiresAt > now } }
    }
}

extension InMemoryConfigurationRepository {
    /// Writes objects changed at run time (the in-memory store keeps no audit log).
    package func put(_ objects: [ConfigurationObject], deleting keys: [String] = []) {
        state.withLock { state in
            for object in objects { state.configuration.put(object) }
            for key in keys { state.configuration.remove(key: key) }
        }
    }
}

/// Keeps run-time changes, rollouts and the audit log in memory, writing objects through to an
/// in-memory configuration repository.
package final class InMemoryReleaseRepository: ReleaseRepository {
    private let configuration: InMemoryConfigurationRepository
    private let state = Mutex<(rollouts: [String: Rollout], experiments: [String: Experiment], audit: [AuditEntry])>(([:], [:], []))

    package init(configuration: InMemoryConfigurationRepository) {
        self.configuration = configuration
    }

    package func apply(_ change: ConfigurationChange) async throws {
        configuration.put(change.objects, deleting: change.deletedObjects)
        state.withLock { state in
            if let rollout = change.rollout { state.rollouts[rollout.id] = rollout }
            if let experiment = change.experiment { state.experiments[experiment.id] = experiment }
            if let deleted = change.deletedExperiment { state.experiments[deleted] = nil }
            for var entry in change.audit {
                entry.id = Int64(state.audit.count + 1)
                state.audit.append(entry)
            }
        }
    }

    package func loadRollouts() async throws -> [Rollout] {
        state.withLock { Array($0.rollouts.values) }
    }

    package func loadRollout(id: String) async throws -> Rollout? {
        state.withLock { $0.rollouts[id] }
    }

    package func rolloutSummaries(_ query: RolloutQuery) async throws -> [RolloutSummary] {
        let rollouts = state.withLock { Array($0.rollouts.values) }
        return Array(rollouts.map(RolloutSummary.init).filter(query.matches).sorted(by: RolloutSummary.newestFirst).prefix(query.limit))
    }

    package func loadExperiments() async throws -> [Experiment] {
        state.withLock { Array($0.experiments.values) }
    }

    package func versionTimes(model: String) async throws -> [String: VersionTimes] {
        [:]
    }

    package func auditLog(object: String?, since: Double?, limit: Int) async throws -> [AuditEntry] {
        state.withLock { state in
            Array(
                state.audit.reversed().filter { entry in
                    (object == nil || entry.object == object) && (since == nil || entry.time >= since!)
                }.prefix(limit))
        }
    }
}

/// Keeps discovered model lists in memory: for tests and for running without a database.
package final class InMemoryModelCatalog: ModelCatalogRepository {
    private let lists = Mutex<[String: ProviderModels]>([:])

    package init() {}

    package func saveProviderModels(_ models: ProviderModels) async throws {
        lists.withLock { $0[models.provider] = models }
    }

    package func loadProviderModels(_ provider: String) async throws -> ProviderModels? {
        lists.withLock { $0[provider] }
    }
}
