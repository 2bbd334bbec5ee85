import Foundation
import GRDB
import Testing

@testable import SwitchyardCore
@testable import SwitchyardStore

/// The rollout list (`rolloutSummaries`): SQLite's and the in-memory repository's answers must agree.
@Suite struct RolloutHistoryTests {
    /// A rollout started at `start` that ends as `end` says: still paused, promoted, or aborted with evaluations.
    static func rollout(_ id: String, model: String = "chat", start: Double, end: Rollout.State = .paused) -> Rollout {
        var rollout = Rollout(
            id: id, model: model, canary: "v2", stable: "v1",
            steps: [.setWeight(basisPoints: 500), .pause(seconds: nil), .setWeight(basisPoints: 5_000)],
            analysis: .standard, now: start)
        _ = rollout.advance(now: start)
        switch end {
        case .promoted:
            _ = rollout.promote(full: true, now: start + 60)
        case .aborted:
            _ = rollout.evaluate(now: start + 30, canary: VersionWindow(requests: 80, errors: 1), stable: VersionWindow(requests: 900, errors: 9))
            _ = rollout.evaluate(now: start + 60, canary: VersionWindow(requests: 2, errors: 0), stable: VersionWindow(requests: 9, errors: 0))
            _ = rollout.abort(reason: "aborted by admin", now: start + 90)
        case .paused, .progressing:
            break
        }
        return rollout
    }

    /// Eight rollouts of two models; r-03 and r-04 started at the same time (the id breaks the tie).
    static let stored: [Rollout] = [
        rollout("r-01", start: 1_000, end: .promoted), rollout("r-02", model: "embed", start: 2_000, end: .aborted),
        rollout("r-03", start: 3_000, end: .aborted), rollout("r-04", start: 3_000, end: .promoted),
        rollout("r-05", model: "embed", start: 4_000, end: .promoted), rollout("r-06", start: 5_000, end: .aborted),
        rollout("r-07", model: "embed", start: 6_000), rollout("r-08", start: 7_000),
    ]

    enum Kind: String, CaseIterable { case sqlite, postgres, memory }

    /// A repository of `kind` holding `stored`; the temporary database (if any) lives as long as the closure.
    static func withRepository(_ kind: Kind, _ body: (any ReleaseRepository) async throws -> Void) async throws {
        let repository: any ReleaseRepository
        let database = try TemporaryDatabase()
        switch kind {
        case .sqlite: repository = try SQLiteStore(path: database.path)
        case .postgres: repository = try await StoreUnderTest.make(.postgres).store
        case .memory: repository = InMemoryReleaseRepository(configuration: InMemoryConfigurationRepository())
        }
        for rollout in stored {
            try await repository.apply(ConfigurationChange(rollout: rollout, rolloutEvent: "started"))
        }
        try await body(repository)
    }

    static func ids(_ repository: any ReleaseRepository, _ query: RolloutQuery) async throws -> [String] {
        try await repository.rolloutSummaries(query).map(\.id)
    }

    @Test(arguments: Kind.allCases) func listsNewestFirstAndFilters(_ kind: Kind) async throws {
        try await Self.withRepository(kind) { repository async throws in
            #expect(try await Self.ids(repository, RolloutQuery(limit: 100)) == ["r-08", "r-07", "r-06", "r-05", "r-04", "r-03", "r-02", "r-01"])
            #expect(try await Self.ids(repository, RolloutQuery(model: "embed", limit: 100)) == ["r-07", "r-05", "r-02"])
            #expect(try await Self.ids(repository, RolloutQuery(state: .aborted, limit: 100)) == ["r-06", "r-03", "r-02"])
            #expect(try await Self.ids(repository, RolloutQuery(model: "chat", state: .promoted, limit: 100)) == ["r-04", "r-01"])
            #expect(try await Self.ids(repository, RolloutQuery(since: 3_000, limit: 100)) == ["r-08", "r-07", "r-06", "r-05", "r-04", "r-03"])
            #expect(try await Self.ids(repository, RolloutQuery(state: .paused, since: 6_500, limit: 100)) == ["r-08"])
            #expect(try await Self.ids(repository, RolloutQuery(model: "nope", limit: 100)).isEmpty)
            #expect(try await Self.ids(repository, RolloutQuery(limit: 3)) == ["r-08", "r-07", "r-06"])
        }
    }

    @Test(arguments: Kind.allCases) func summariesSayHowFarEachGotAndWhenItEnded(_ kind: Kind) async throws {
        try await Self.withRepository(kind) { repository async throws in
            let byID = Dictionary(uniqueKeysWithValues: try await repository.rolloutSummaries(RolloutQuery(limit: 100)).map { ($0.id, $0) })
            for rollout in Self.stored {
                #expect(byID[rollout.id] == RolloutSummary(rollout), "\(rollout.id) reads back as it was written")
            }
            let aborted = try #require(byID["r-03"])
            #expect(aborted.state == .aborted && aborted.reason == "aborted by admin" && aborted.endedAt == 3_090)
            #expect(aborted.evaluationCount == 2 && aborted.currentStep == 1 && aborted.stepsReached == 2 && aborted.stepCount == 3)
            #expect(aborted.canaryWeightBasisPoints == 0)
            let promoted = try #require(byID["r-04"])
            #expect(promoted.endedAt == 3_060 && promoted.stepsReached == 3 && promoted.canaryWeightBasisPoints == 10_000)
            let running = try #require(byID["r-08"])
            #expect(running.endedAt == nil && running.reason == "step" && running.stepsReached == 2 && running.canaryWeightBasisPoints == 500)
        }
    }

    @Test(arguments: Kind.allCases) func pagesFollowOneAnotherWithoutRepeatsOrGapsWhileRolloutsStart(_ kind: Kind) async throws {
        try await Self.withRepository(kind) { repository async throws in
            var seen: [String] = []
            var after: RolloutCursor?
            var pages = 0
            repeat {
                let page = try await repository.rolloutSummaries(RolloutQuery(model: "chat", after: after, limit: 2))
                seen += page.map(\.id)
                after = page.count == 2 ? page.last?.cursor : nil
                pages += 1
                // Newer rollouts start (and end: one model has one active rollout) between pages, one at the same
                // time as the newest listed.
                try await repository.apply(
                    ConfigurationChange(rollout: Self.rollout("r-new-\(pages)", start: 8_000 + Double(pages), end: .aborted)))
                try await repository.apply(ConfigurationChange(rollout: Self.rollout("r-00-\(pages)", start: 7_000, end: .aborted)))
            } while after != nil && pages < 10
            #expect(seen == ["r-08", "r-06", "r-04", "r-03", "r-01"])
            #expect(pages == 3)
        }
    }

    @Test(arguments: StoreKind.allCases) func aFinishedRolloutKeepsTheTimeItEndedAfterLaterWrites(_ kind: StoreKind) async throws {
        let database = try await StoreUnderTest.make(kind)
        defer { withExtendedLifetime(database) {} }
        let store = database.store
        var rollout = Self.rollout("r-1", start: 1_000)
        try await store.apply(ConfigurationChange(rollout: rollout))
        #expect(try await store.rolloutSummaries(RolloutQuery(limit: 1)).first?.endedAt == nil)
        _ = rollout.abort(reason: "aborted by admin", now: 1_500)
        try await store.apply(ConfigurationChange(rollout: rollout))
        try await store.apply(ConfigurationChange(rollout: rollout))
        let summary = try #require(try await store.rolloutSummaries(RolloutQuery(state: .aborted, limit: 1)).first)
        #expect(summary.endedAt == 1_500 && summary.reason == "aborted by admin")
    }

    @Test func rolloutsStoredBeforeTheHistoryColumnsAreListedFromTheirJSON() async throws {
        let database = try TemporaryDatabase()
        let old = [Self.rollout("r-old-1", start: 1_000, end: .aborted), Self.rollout("r-old-2", model: "embed", start: 2_000)]
        do {
            let pool = try DatabasePool(path: database.path)
            try Migrations.migrator.migrate(pool, upTo: "v4-experiments-providers")
            for rollout in old {
                let json = try SQLiteStore.encode(rollout)
                try await pool.write { db in
                    try db.execute(
                        sql: """
                            INSERT INTO rollouts (id, model, canary, state, rollout_json, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)
                            """,
                        arguments: [rollout.id, rollout.model, rollout.canary, rollout.state.rawValue, json, rollout.createdAt, rollout.updatedAt])
                }
            }
            try pool.close()
        }
        let store = try SQLiteStore(path: database.path)
        #expect(try await store.appliedMigrations().contains("v5-rollout-history"))
        #expect(try await store.rolloutSummaries(RolloutQuery(limit: 10)) == old.reversed().map(RolloutSummary.init))
        #expect(try await store.rolloutSummaries(RolloutQuery(model: "chat", state: .aborted, limit: 10)).map(\.endedAt) == [1_090])
        let plan = try await store.pool.read { db in
            try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN SELECT id FROM rollouts WHERE model = 'chat' ORDER BY created_at DESC, id DESC LIMIT 5")
                .map { row -> String in row["detail"] }.joined(separator: "\n")
        }
        #expect(!plan.contains("TEMP B-TREE"), "the list is read in index order, not sorted: \(plan)")
    }
}
