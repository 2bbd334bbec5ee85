import Foundation
import Logging
import SwitchyardCore
import SwitchyardPostgres
import SwitchyardStore
import SwitchyardTestSupport
import Testing

@testable import SwitchyardServer

/// `switchyard migrate`: an appliance's SQLite database copied into PostgreSQL reads back the same.
@Suite struct DatabaseMigrationTests {
    static let seed = """
        [providers.demo]
        format = "mock"
        [models.chat.versions.v1]
        weight = 90
        default = true
        backends = [ { provider = "demo", model = "a", weight = 2, tags = ["t"] } ]
        [models.chat.versions.v2]
        weight = 10
        params = { temperature = 0.2 }
        backends = [ { provider = "demo", model = "b" } ]
        [users.alice]
        token = "sk-alice-migrate"
        rate_limit = { requests_per_minute = 60 }
        """

    @Test func aSQLiteDatabaseIsCopiedWholeIntoAnEmptyPostgreSQLDatabaseOnce() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("switchyard-migrate-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("switchyard.db").path
        do {
            let sqlite = try SQLiteStore(path: path)
            _ = try await sqlite.applySeed(try Seed(toml: Self.seed, environment: [:]).configuration)
            var rollout = Rollout(
                id: "r-1", model: "chat", canary: "v2", stable: "v1", steps: [.setWeight(basisPoints: 1_000), .pause(seconds: nil)],
                analysis: .standard, now: 1_000)
            _ = rollout.advance(now: 1_000)
            try await sqlite.apply(ConfigurationChange(rollout: rollout, rolloutEvent: "started"))
            try await sqlite.saveSession(SessionBinding(sessionID: "c", model: "chat", version: "v2", backend: "demo/b", expiresAt: 4_000_000_000))
            let writer = EventWriter(store: sqlite, logger: Logger(label: "test"))
            for index in 0..<1_234 {
                writer.record(
                    OutcomeEvent(
                        time: 1_800_000_000 + Double(index), requestID: "r\(index)", userID: "alice", model: "chat",
                        version: index % 2 == 0 ? "v1" : "v2",
                        backend: "demo/a", endpoint: "chat/completions", status: index % 10 == 0 ? 502 : 200, stream: index % 3 == 0,
                        latencyMilliseconds: Double(index % 50), timeToFirstTokenMilliseconds: 3, inputTokens: 10, outputTokens: 20, costUSD: 0.001))
            }
            try await writer.flush()
            try sqlite.close()
        }
        let sqlite = try SQLiteStore(path: path)
        let url = try TemporaryPostgres.makeDatabase()
        let lines = try await DatabaseMigration.copy(from: path, to: url, environment: [:], logger: Logger(label: "test"))
        #expect(lines.contains("  request_log\t1234 rows"), "\(lines)")

        let postgres = try await PostgresStore.connect(try PostgresLocation(url: url), logger: Logger(label: "test"))
        #expect(try await postgres.loadConfiguration() == (try await sqlite.loadConfiguration()))
        #expect(try await postgres.loadRollouts() == (try await sqlite.loadRollouts()))
        #expect(try await postgres.loadSessions(now: 0) == (try await sqlite.loadSessions(now: 0)))
        #expect(try await postgres.auditLog(object: nil, since: nil, limit: 100) == (try await sqlite.auditLog(object: nil, since: nil, limit: 100)))
        for grouping in UsageQuery.Grouping.allCases {
            let copied = try await postgres.usage(UsageQuery(groupBy: grouping))
            let original = try await sqlite.usage(UsageQuery(groupBy: grouping))
            #expect(copied.map(\.requests) == original.map(\.requests) && copied.map(\.key) == original.map(\.key))
        }
        let series = TimeseriesQuery(from: 1_800_000_000 - 60, to: 1_800_000_000 + 1_260, step: 60)
        #expect(try await postgres.timeseries(series) == (try await sqlite.timeseries(series)), "rollups and their histograms")
        // New rows continue after the copied ids.
        try await postgres.apply(
            ConfigurationChange(audit: [
                AuditEntry(time: 2_000_000_000, actor: "admin", source: .api, object: "x", action: "y", before: nil, after: nil)
            ]))
        let newest = try #require(try await postgres.auditLog(object: nil, since: nil, limit: 1).first)
        let copiedNewest = try await sqlite.auditLog(object: nil, since: nil, limit: 1).first?.id ?? 0
        #expect(newest.object == "x" && (newest.id ?? 0) > copiedNewest)

        await #expect(throws: CommandFailure.self, "a database with a configuration already is not overwritten") {
            _ = try await DatabaseMigration.copy(from: path, to: url, environment: [:], logger: Logger(label: "test"))
        }
        postgres.close()
        try sqlite.close()
    }
}
