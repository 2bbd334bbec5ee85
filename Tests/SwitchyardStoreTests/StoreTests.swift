import Foundation
import GRDB
import Logging
import ServiceLifecycle
import Testing

@testable import SwitchyardCore
@testable import SwitchyardStore

/// A database file in its own temporary folder, removed at the end.
struct TemporaryDatabase: ~Copyable {
    let directory: URL
    var path: String { directory.appendingPathComponent("switchyard.db").path }

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("switchyard-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    deinit {
        try? FileManager.default.removeItem(at: directory)
    }
}

@Suite struct StoreTests {
    static let seedText = """
        [providers.demo]
        format = "mock"
        [providers.up]
        format = "openai"
        base_url = "http://127.0.0.1:9/v1"
        api_key = "env:UP_KEY"
        headers = { "X-Team" = "a" }
        cost_input_per_mtok = 2.5
        responses = false
        [models.chat.versions.v1]
        weight = 99.5
        default = true
        params = { temperature = 0.7, stop = ["x"] }
        backends = [ { provider = "up", model = "gpt", weight = 2, priority = 1, tags = ["t"] }, { provider = "demo", model = "e", mock = { chunks = 3, seed = 9 } } ]
        [models.chat.versions.v2]
        weight = 0.5
        backends = [ { provider = "demo", model = "canary" } ]
        [users.alice]
        token = "sk-alice-token"
        allowed_models = ["chat"]
        tags = ["t"]
        region = "eu"
        """

    static func seed(_ text: String = seedText) throws -> ConfigurationSpec {
        try Seed(toml: text, environment: ["UP_KEY": "secret"]).configuration
    }

    @Test func migratesAnEmptyFile() async throws {
        let database = try TemporaryDatabase()
        let store = try SQLiteStore(path: database.path)
        #expect(
            try await store.appliedMigrations() == [
                "v1-foundation", "v2-routing-health", "v3-releases", "v4-experiments-providers", "v5-rollout-history",
                "v6-shadow", "v7-responses-provider", "v8-cached-tokens", "v9-cached-token-rollups",
            ])
        let mode = try await store.pool.read { db in try String.fetchOne(db, sql: "PRAGMA journal_mode") }
        #expect(mode == "wal")
        let foreignKeys = try await store.pool.read { db in try Bool.fetchOne(db, sql: "PRAGMA foreign_keys") }
        #expect(foreignKeys == true)
    }

    @Test func aDatabaseFromTheFirstVersionIsMigratedWithItsData() async throws {
        let database = try TemporaryDatabase()
        do {
            let pool = try DatabasePool(path: database.path)
            try Migrations.migrator.migrate(pool, upTo: "v1-foundation")
            try await pool.write { db in
                try db.execute(
                    sql: """
                        INSERT INTO providers (id, format, created_at, updated_at) VALUES ('demo', 'mock', 0, 0);
                        INSERT INTO models (name, strategy, created_at, updated_at) VALUES ('chat', 'weighted_random', 0, 0);
                        INSERT INTO versions (model, name, position, weight_bp, is_default, created_at, updated_at)
                            VALUES ('chat', 'v1', 0, 10000, 1, 0, 0);
                        INSERT INTO backends (model, version, position, provider, upstream_model) VALUES ('chat', 'v1', 0, 'demo', 'echo');
                        INSERT INTO settings (key, value_json, updated_at) VALUES ('gateway', '{"requestTimeoutSeconds":12,"connectTimeoutSeconds":3}', 0);
                        INSERT INTO rollup_minute (minute, model, version, backend, requests, errors, latency_sum_ms, latency_buckets_json,
                            ttft_count, ttft_sum_ms, ttft_buckets_json, tokens_in, tokens_out, cost_usd)
                            VALUES (60, 'chat', 'v1', 'demo/echo', 7, 1, 700, '[7]', 0, 0, '[]', 70, 140, 0.5);
                        """)
            }
            try pool.close()
        }
        let store = try SQLiteStore(path: database.path)
        #expect(
            try await store.appliedMigrations() == [
                "v1-foundation", "v2-routing-health", "v3-releases", "v4-experiments-providers", "v5-rollout-history",
                "v6-shadow", "v7-responses-provider", "v8-cached-tokens", "v9-cached-token-rollups",
            ])
        let configuration = try await store.loadConfiguration()
        #expect(configuration.settings.requestTimeoutSeconds == 12, "stored settings keep their values")
        #expect(configuration.settings.maxRetries == GatewaySettings().maxRetries, "keys added later take their defaults")
        let backend = try #require(configuration.models.first?.versions.first?.backends.first)
        #expect(backend.priority == 0 && backend.tags.isEmpty)
        #expect(configuration.providers.first?.healthCheck == HealthCheckMode.none, "mock providers are not probed")
        let (requests, experiment, squares) = try await store.pool.read { db -> (Int, String, Double) in
            let rollup = try #require(try Row.fetchOne(db, sql: "SELECT requests, experiment, latency_square_sum_ms FROM rollup_minute"))
            return (rollup["requests"], rollup["experiment"], rollup["latency_square_sum_ms"])
        }
        #expect(requests == 7 && experiment.isEmpty && squares == 0, "rollups survive the rebuild")
    }

    @Test(arguments: StoreKind.allCases) func experimentsTheirRollupsAndFeedbackAreStoredAndSurviveReopening(_ kind: StoreKind) async throws {
        let database = try await StoreUnderTest.make(kind)
        var experiment = Experiment(
            id: "e-1", name: "tone", model: "chat",
            variants: [
                .init(id: "control", name: "Control", target: .version("v1"), weight: 1),
                .init(id: "tuned", name: "Tuned", target: .version("v2"), weight: 1),
            ], control: "control", now: 1_000)
        try experiment.apply(.start, now: 1_001)
        do {
            let store = database.store
            try await store.apply(ConfigurationChange(experiment: experiment))
            let writer = database.makeWriter()
            for index in 0..<40 {
                var event = Self.event(index, time: 1_800_000_000 + Double(index) * 20, status: index % 4 == 0 ? 502 : 200)
                event.experiment = "e-1"
                event.variant = index % 2 == 0 ? "control" : "tuned"
                event.latencyMilliseconds = Double(100 + index)
                event.cachedInputTokens = index % 2 == 0 ? 0 : 3
                event.cacheWriteTokens = 1
                writer.record(event)
            }
            writer.record(Self.event(99))
            try await writer.flush()
            let assignment = try #require(try await store.assignment(ofRequest: "r3"))
            #expect(assignment.experiment == "e-1" && assignment.variant == "tuned")
            #expect(try await store.assignment(ofRequest: "r99") == nil, "a request outside experiments has no assignment")
            #expect(try await store.assignment(ofRequest: "unknown") == nil)
            try await store.saveFeedback(ExperimentFeedback(experiment: "e-1", variant: "tuned", requestID: "r3", score: 2, user: nil, time: 0))
            try await store.saveFeedback(ExperimentFeedback(experiment: "e-1", variant: "tuned", requestID: "r3", score: 4, user: "u", time: 0))
            try await store.saveFeedback(ExperimentFeedback(experiment: "e-1", variant: "tuned", requestID: "r5", score: 5, user: nil, time: 0))
            try database.close()
        }
        let reopened = try await database.reopen().store
        #expect(try await reopened.loadExperiments() == [experiment])
        let totals = try await reopened.experimentTotals("e-1")
        let tuned = try #require(totals["tuned"])
        let control = try #require(totals["control"])
        #expect(tuned.requests == 20 && control.requests == 20)
        #expect(control.errors == 10 && tuned.errors == 0)
        // Odd indexes 1…39: latency 101…139.
        let odd = (0..<20).map { Double(101 + 2 * $0) }
        #expect(tuned.latency.sum == odd.reduce(0, +))
        #expect(tuned.latency.sumOfSquares == odd.reduce(0) { $0 + $1 * $1 })
        #expect(tuned.latencyHistogram.total == 20)
        #expect(tuned.feedback == Statistics.Moments(count: 2, sum: 9, sumOfSquares: 41), "a second score for a request replaces the first")
        #expect(abs(tuned.cost.sumOfSquares - 20 * 0.001 * 0.001) < 1e-12)
        #expect(tuned.cachedInputTokens == 60 && control.cachedInputTokens == 0 && control.cacheWriteTokens == 20)
    }

    @Test(arguments: StoreKind.allCases) func sessionsPersistAndExpire(_ kind: StoreKind) async throws {
        let database = try await StoreUnderTest.make(kind)
        defer { withExtendedLifetime(database) {} }
        let store = database.store
        try await store.saveSession(SessionBinding(sessionID: "a", model: "chat", version: "v1", backend: "demo/x", expiresAt: 100))
        try await store.saveSession(SessionBinding(sessionID: "b", model: "chat", version: "v2", backend: "demo/y", expiresAt: 300))
        try await store.saveSession(SessionBinding(sessionID: "a", model: "chat", version: "v1", backend: "demo/z", expiresAt: 400))
        #expect(try await store.loadSessions(now: 200).map(\.sessionID).sorted() == ["a", "b"])
        #expect(try await store.loadSessions(now: 200).first { $0.sessionID == "a" }?.backend == "demo/z")
        try await store.purgeSessions(expiredBefore: 350)
        #expect(try await store.loadSessions(now: 0).map(\.sessionID) == ["a"])
        try await store.deleteSession(id: "a")
        #expect(try await store.loadSessions(now: 0).isEmpty)
    }

    @Test(arguments: StoreKind.allCases) func configurationRoundTripsThroughTheDatabaseAndSurvivesReopening(_ kind: StoreKind) async throws {
        let database = try await StoreUnderTest.make(kind)
        let seed = try Self.seed()
        do {
            let store = database.store
            _ = try await store.applySeed(seed)
            #expect(try await store.loadConfiguration() == seed)
            try database.close()
        }
        let reopened = try await database.reopen().store
        #expect(try await reopened.loadConfiguration() == seed)
        let report = try await reopened.applySeed(seed)
        #expect(report.created.isEmpty && report.updated.isEmpty)
    }

    @Test(arguments: StoreKind.allCases) func applyingASeedIsAuditedAndRemovalDisables(_ kind: StoreKind) async throws {
        let database = try await StoreUnderTest.make(kind)
        let store = database.store
        _ = try await store.applySeed(try Self.seed())
        let withoutAlice = String(Self.seedText[..<Self.seedText.range(of: "[users.alice]")!.lowerBound])
        let report = try await store.applySeed(try Self.seed(withoutAlice))
        #expect(report.disabled == ["user:alice"])
        #expect(try await store.loadConfiguration().users.first?.enabled == false)

        let audit = try await store.auditLog(object: nil, since: nil, limit: 100).reversed().map {
            "\($0.object) \($0.action) \($0.source.rawValue) \($0.actor)"
        }
        #expect(
            audit == [
                "provider:demo create seed seed", "provider:up create seed seed", "model:chat create seed seed",
                "user:alice create seed seed", "user:alice disable seed seed",
            ])
        let secret = try await database.string("SELECT api_key FROM providers WHERE id = 'up'")
        #expect(secret == "env:UP_KEY", "env references are stored as written, never resolved")
    }

    @Test(arguments: StoreKind.allCases) func aChangedModelReplacesItsVersionsAndBackends(_ kind: StoreKind) async throws {
        let database = try await StoreUnderTest.make(kind)
        let store = database.store
        _ = try await store.applySeed(try Self.seed())
        let single = try Self.seed(
            """
            [providers.demo]
            format = "mock"
            [models.chat]
            backends = [ { provider = "demo", model = "only" } ]
            """)
        _ = try await store.applySeed(single)
        let model = try #require(try await store.loadConfiguration().models.first)
        #expect(model.versions.map(\.name) == ["v1"])
        #expect(model.versions[0].backends.map(\.model) == ["only"])
        let backendRows = try await database.int("SELECT COUNT(*) FROM backends")
        #expect(backendRows == 1)
    }

    static func event(_ index: Int, time: Double = 1_800_000_000, status: Int = 200) -> OutcomeEvent {
        OutcomeEvent(
            time: time, requestID: "r\(index)", userID: "alice", model: "chat", version: "v1", backend: "demo/e",
            endpoint: "chat/completions", status: status, stream: index % 2 == 0, latencyMilliseconds: Double(index % 100),
            timeToFirstTokenMilliseconds: 5, inputTokens: 10, outputTokens: 20, costUSD: 0.001)
    }

    @Test(arguments: StoreKind.allCases) func writerBatchesConcurrentEventsIntoLogAndRollups(_ kind: StoreKind) async throws {
        let database = try await StoreUnderTest.make(kind)
        let writer = database.makeWriter()
        await withTaskGroup(of: Void.self) { group in
            for task in 0..<8 {
                group.addTask {
                    for index in 0..<250 {
                        writer.record(Self.event(task * 250 + index, status: index % 10 == 0 ? 502 : 200))
                    }
                }
            }
        }
        try await writer.flush()
        #expect(writer.pendingCount == 0)
        #expect(try await database.int("SELECT COUNT(*) FROM request_log") == 2_000)
        #expect(try await database.int("SELECT CAST(SUM(requests) AS BIGINT) FROM rollup_minute") == 2_000)
        #expect(try await database.int("SELECT CAST(SUM(errors) AS BIGINT) FROM rollup_minute") == 200)
        #expect(try await database.int("SELECT CAST(SUM(tokens_out) AS BIGINT) FROM rollup_minute") == 40_000)
        let minute = try #require(
            try await database.store.timeseries(TimeseriesQuery(from: 1_800_000_000 - 60, to: 1_800_000_000 + 60, step: 120)).first)
        #expect(minute.latency.total == 2_000 && minute.ttft.total == 2_000)

        // A second batch for the same minute adds to the rollup instead of replacing it.
        writer.record(Self.event(9_999))
        try await writer.flush()
        #expect(try await database.int("SELECT CAST(SUM(requests) AS BIGINT) FROM rollup_minute") == 2_001)
        let merged = try #require(
            try await database.store.timeseries(TimeseriesQuery(from: 1_800_000_000 - 60, to: 1_800_000_000 + 60, step: 120)).first)
        #expect(merged.latency.total == 2_001, "histogram buckets are added, not replaced")
    }

    @Test(arguments: StoreKind.allCases) func gracefulShutdownFlushesTheQueue(_ kind: StoreKind) async throws {
        let database = try await StoreUnderTest.make(kind)
        let writer = database.makeWriter(interval: .seconds(3600))
        let group = ServiceGroup(configuration: .init(services: [writer], logger: Logger(label: "test")))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            for index in 0..<100 { writer.record(Self.event(index)) }
            try await Task.sleep(for: .milliseconds(50))
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
        #expect(try await database.int("SELECT COUNT(*) FROM request_log") == 100)
    }

    @Test(arguments: StoreKind.allCases) func rolloutsModelChangesAndAuditRowsAreStoredTogetherAndSurviveReopening(_ kind: StoreKind) async throws {
        let database = try await StoreUnderTest.make(kind)
        var rollout = Rollout(
            id: "r-1", model: "chat", canary: "v2", stable: "v1", steps: [.setWeight(basisPoints: 100), .pause(seconds: nil)],
            analysis: .standard, now: 1_000)
        _ = rollout.advance(now: 1_000)
        do {
            let store = database.store
            _ = try await store.applySeed(try Self.seed())
            var model = try #require(try await store.loadConfiguration().models.first)
            model = try model.withWeight(100, for: "v2")
            try await store.apply(
                ConfigurationChange(
                    objects: [.model(model)], rollout: rollout, rolloutEvent: "started",
                    audit: [AuditEntry(time: 1_000, actor: "admin", source: .api, object: "rollout:r-1", action: "start", before: nil, after: "{}")]))
            try database.close()
        }
        let reopened = try await database.reopen().store
        #expect(try await reopened.loadRollouts() == [rollout], "a restart resumes where the rollout was")
        #expect(try await reopened.loadConfiguration().models.first?.versions.map(\.weightBasisPoints) == [9_900, 100])
        let audit = try await reopened.auditLog(object: "rollout:r-1", since: nil, limit: 10)
        #expect(audit.map(\.action) == ["start"] && audit.first?.source == .api)
        #expect(try await reopened.auditLog(object: nil, since: 2_000_000_000, limit: 10).isEmpty)
        let times = try await reopened.versionTimes(model: "chat")
        #expect(times["v1"] != nil && times["v2"] != nil)
    }

    @Test(arguments: StoreKind.allCases) func usageAndSpendAreReadFromTheRequestLog(_ kind: StoreKind) async throws {
        let database = try await StoreUnderTest.make(kind)
        let store = database.store
        let writer = database.makeWriter()
        for index in 0..<10 {
            var event = Self.event(index, time: 1_800_000_000 + Double(index) * 3_600, status: index == 3 ? 502 : 200)
            event.userID = index < 6 ? "alice" : "bob"
            event.version = index % 2 == 0 ? "v1" : "v2"
            writer.record(event)
        }
        try await writer.flush()
        let spend = try await store.spendByUser(since: 1_800_000_000 + 4 * 3_600)
        #expect(abs(spend["alice"]! - 0.002) < 1e-12 && abs(spend["bob"]! - 0.004) < 1e-12)
        let byVersion = try await store.usage(UsageQuery(user: "alice", groupBy: .version))
        #expect(byVersion.map(\.key) == ["chat/v1", "chat/v2"])
        #expect(byVersion.map(\.requests) == [3, 3] && byVersion[1].errors == 1 && byVersion[0].outputTokens == 60)
        let byDay = try await store.usage(UsageQuery(from: 1_800_000_000, to: 1_800_000_000 + 2 * 3_600, groupBy: .day))
        #expect(byDay.map(\.key) == ["2027-01-15"] && byDay[0].requests == 2)
    }

    @Test func aBackupTakenUnderWriteLoadOpensAndPassesTheIntegrityCheck() async throws {
        let database = try TemporaryDatabase()
        let store = try SQLiteStore(path: database.path)
        _ = try await store.applySeed(try Self.seed())
        let writer = EventWriter(store: store, interval: .milliseconds(5), logger: Logger(label: "test"))
        let load = Task {
            for index in 0..<4_000 {
                writer.record(Self.event(index))
                if index % 100 == 0 { try await writer.flush() }
            }
            try await writer.flush()
        }
        try await Task.sleep(for: .milliseconds(20))
        let destination = database.directory.appendingPathComponent("copy.db").path
        let size = try await store.backup(to: destination)
        try await load.value
        #expect(size > 0)
        let copy = try SQLiteStore(path: destination)
        #expect(try await copy.loadConfiguration() == (try Self.seed()))
        let copied = try await copy.pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM request_log")! }
        #expect(copied >= 0 && copied <= 4_000)
        await #expect(throws: BackupError.self) { try await store.backup(to: destination) }
    }

    @Test(arguments: StoreKind.allCases) func adminTokensAreStoredAsDigests(_ kind: StoreKind) async throws {
        let store = try await StoreUnderTest.make(kind)
        #expect(try await store.adminTokenDigest(named: "generated") == nil)
        try await store.storeAdminToken(named: "generated", digest: TokenDigest(token: "sya-secret"))
        #expect(try await store.adminTokenDigest(named: "generated") == TokenDigest(token: "sya-secret"))
        let stored = try await store.string("SELECT token_hash FROM admin_tokens")
        #expect(stored != "sya-secret")
    }
}
