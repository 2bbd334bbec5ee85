import Foundation
import Logging
import SwitchyardTestSupport
import Synchronization
import Testing

@testable import SwitchyardCore
@testable import SwitchyardPostgres

/// What only the PostgreSQL store does: several instances on one database.
@Suite struct PostgresStoreTests {
    static func connect(_ url: String) async throws -> PostgresStore {
        try await PostgresStore.connect(try PostgresLocation(url: url), logger: Logger(label: "test"))
    }

    @Test func instancesStartingTogetherMigrateTheDatabaseOnce() async throws {
        let url = try TemporaryPostgres.makeDatabase()
        let stores = try await withThrowingTaskGroup(of: PostgresStore.self) { group in
            for _ in 0..<4 { group.addTask { try await Self.connect(url) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        for store in stores {
            #expect(try await store.appliedMigrations() == ["0001-schema", "0002-fell-back-from", "0003-cached-token-rollups", "0004-rate-windows"])
        }
        // Seeds applied by all at once: one set of audit rows, as if one instance had applied it.
        let seed = try StoreTests.seed()
        let reports = try await withThrowingTaskGroup(of: SeedApplyReport.self) { group in
            for store in stores { group.addTask { try await store.applySeed(seed) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(reports.filter { !$0.created.isEmpty }.count == 1, "exactly one instance created the objects")
        #expect(try await stores[0].auditLog(object: nil, since: nil, limit: 100).count == 4)
        for store in stores { store.close() }
    }

    @Test func requestLimitsAdmitExactlyTheLimitAcrossInstances() async throws {
        let url = try TemporaryPostgres.makeDatabase()
        var stores: [PostgresStore] = []
        for _ in 0..<3 { stores.append(try await Self.connect(url)) }
        // 3 × 40 admissions at once for a user allowed 50 a minute and 100 an hour.
        let results = try await withThrowingTaskGroup(of: SharedAdmission.self) { group in
            for index in 0..<120 {
                let store = stores[index % stores.count]
                group.addTask { try await store.admit(user: "dave", requestsPerMinute: 50, requestsPerHour: 100) }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(results.filter(\.admitted).count == 50)
        for result in results where !result.admitted {
            #expect(result.window.count == 50 && result.window == result.window.sorted())
            let refused = RateLimiter.decision(of: result, spec: RateLimitSpec(requestsPerMinute: 50, requestsPerHour: 100))
            #expect(!refused.allowed && refused.limit == "requests_per_minute" && refused.retryAfter > 59 && refused.remainingRequests == 0)
        }
        // Another user's window is its own.
        #expect(try await stores[1].admit(user: "erin", requestsPerMinute: 1, requestsPerHour: nil).admitted)
        #expect(try await stores[2].admit(user: "erin", requestsPerMinute: 1, requestsPerHour: nil).admitted == false)
        for store in stores { store.close() }
    }

    @Test func aChangeIsAnnouncedToOtherInstancesAndNotToItsOwn() async throws {
        let url = try TemporaryPostgres.makeDatabase()
        let a = try await Self.connect(url)
        let b = try await Self.connect(url)
        _ = try await a.applySeed(try StoreTests.seed())
        let heard = Mutex<[Double]>([])
        let listening = Task {
            await PostgresChangeListener(store: b).follow { heard.withLock { $0.append(Date().timeIntervalSince1970) } }
        }
        defer { listening.cancel() }
        try await Self.eventually { heard.withLock { $0.count } == 1 }  // the reload every (re)connection makes

        var model = try #require(try await a.loadConfiguration().models.first)
        model = try model.withWeight(300, for: "v2")
        let sent = Date().timeIntervalSince1970
        try await a.apply(ConfigurationChange(objects: [.model(model)]))
        try await Self.eventually { heard.withLock { $0.count } == 2 }
        #expect(try heard.withLock { try #require($0.last) } - sent < 0.5)
        #expect(try await b.loadConfiguration().models.first?.versions.map(\.weightBasisPoints) == [9_700, 300])

        try await b.apply(ConfigurationChange(objects: [.model(model)]))
        try await a.apply(ConfigurationChange(objects: [.model(model)]))
        try await Self.eventually { heard.withLock { $0.count } == 3 }
        try await Task.sleep(for: .milliseconds(200))
        #expect(heard.withLock { $0.count } == 3, "B's own change is not announced back to it")
        a.close()
        b.close()
    }

    @Test func outcomesFromSeveralInstancesAddUpInTheSharedRollups() async throws {
        let url = try TemporaryPostgres.makeDatabase()
        let stores = [try await Self.connect(url), try await Self.connect(url), try await Self.connect(url)]
        let writers = stores.map { PostgresEventWriter(store: $0, logger: Logger(label: "test")) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (instance, writer) in writers.enumerated() {
                group.addTask {
                    for round in 0..<10 {
                        for index in 0..<50 {
                            var event = StoreTests.event(instance * 1_000 + round * 50 + index)
                            event.experiment = "e-1"
                            event.variant = index % 2 == 0 ? "a" : "b"
                            writer.record(event)
                        }
                        try await writer.flush()
                    }
                }
            }
            try await group.waitForAll()
        }
        let totals = try await stores[1].experimentTotals("e-1")
        #expect(totals["a"]?.requests == 750 && totals["b"]?.requests == 750)
        #expect(totals["a"]?.latencyHistogram.total == 750)
        let minute = try #require(try await stores[2].timeseries(TimeseriesQuery(from: 1_800_000_000 - 60, to: 1_800_000_000 + 60, step: 120)).first)
        #expect(minute.requests == 1_500 && minute.outputTokens == 30_000)
        #expect(try await stores[0].usage(UsageQuery(groupBy: .user)).map(\.requests) == [1_500])
        for store in stores { store.close() }
    }

    @Test func oneInstanceIsTheControllerAndAnotherTakesOverWithinTwoIntervalsWhenItGoes() async throws {
        let url = try TemporaryPostgres.makeDatabase()
        let interval = Duration.milliseconds(200)
        let locks = [
            PostgresControllerLock(store: try await Self.connect(url), interval: interval),
            PostgresControllerLock(store: try await Self.connect(url), interval: interval),
            PostgresControllerLock(store: try await Self.connect(url), interval: interval),
        ]
        var campaigns = locks.map { lock in Task { await lock.campaign() } }
        defer { campaigns.forEach { $0.cancel() } }
        try await Self.eventually { locks.contains(where: \.isController) }
        try await Task.sleep(for: interval * 3)
        #expect(locks.filter(\.isController).count == 1, "exactly one controller")

        let holder = locks.firstIndex { $0.isController }
        let first = try #require(holder)
        campaigns[first].cancel()
        let gone = ContinuousClock.now
        try await Self.eventually { locks.enumerated().contains { $0.offset != first && $0.element.isController } }
        let takeover = ContinuousClock.now - gone
        #expect(takeover <= interval * 2 + .milliseconds(100), "took over after \(takeover)")
        #expect(locks.filter(\.isController).count == 1)
        campaigns[first] = Task { await locks[first].campaign() }
        try await Task.sleep(for: interval * 3)
        #expect(locks.filter(\.isController).count == 1, "a returning instance does not take the role back")
    }

    @Test func theAnalysisWindowCountsWhatEveryInstanceRecorded() async throws {
        let url = try TemporaryPostgres.makeDatabase()
        let stores = [try await Self.connect(url), try await Self.connect(url)]
        for (instance, store) in stores.enumerated() {
            let writer = PostgresEventWriter(store: store, logger: Logger(label: "test"))
            for index in 0..<20 {
                var event = StoreTests.event(instance * 100 + index, time: 1_800_000_000 + Double(index), status: index % 5 == 0 ? 502 : 200)
                event.version = "v2"
                event.latencyMilliseconds = Double(index + 1)
                writer.record(event)
            }
            var departed = StoreTests.event(instance * 100 + 50, time: 1_800_000_010, status: 499)
            departed.version = "v2"
            writer.record(departed)
            var fellBack = StoreTests.event(instance * 100 + 60, time: 1_800_000_010)
            fellBack.fellBackFrom = "v2"
            writer.record(fellBack)
            try await writer.flush()
        }
        let window = try await stores[0].window(model: "chat", version: "v2", since: 1_800_000_000, shadow: false)
        // 2 × (20 served, 4 of them 502, one client departure) + 2 requests that fell back from v2.
        #expect(window.requests == 44 && window.errors == 10)
        #expect(window.p95LatencyMilliseconds == 20, "nearest rank 40 of 42 latencies (1…20 twice, then the departures' 50s)")
        let later = try await stores[1].window(model: "chat", version: "v2", since: 1_800_000_015, shadow: false)
        #expect(later.requests == 10 && later.errors == 2)
        #expect(try await stores[1].window(model: "chat", version: "v1", since: 0, shadow: false).requests == 2)
    }

    @Test func aURLIsReadWithItsPasswordFromWhereTheOperatorPutIt() throws {
        let plain = try PostgresLocation(url: "postgres://gw@db.internal/switchyard", environment: ["PGPASSWORD": "from-env"])
        #expect(plain.host == "db.internal" && plain.port == 5432 && plain.user == "gw" && plain.database == "switchyard")
        #expect(plain.password == "from-env" && plain.sslMode == .prefer)
        let given = try PostgresLocation(url: "postgresql://gw@db:6543/s?sslmode=require", password: "configured", environment: ["PGPASSWORD": "x"])
        #expect(given.password == "configured" && given.port == 6543 && given.sslMode == .require)
        let inline = try PostgresLocation(url: "postgres://gw:p%40ss@db/s", password: "configured")
        #expect(inline.password == "p@ss" && inline.redacted == "postgres://gw@db:5432/s", "the password never shows")
        #expect(throws: PostgresURLError.self) { try PostgresLocation(url: "postgres://gw@db") }
        #expect(throws: PostgresURLError.self) { try PostgresLocation(url: "postgres://db/s") }
        #expect(throws: PostgresURLError.self) { try PostgresLocation(url: "postgres://gw@db/s?sslmode=sometimes") }
        #expect(!PostgresLocation.isURL("switchyard.db") && PostgresLocation.isURL("postgres://gw@db/s"))
    }

    static func eventually(timeout: Duration = .seconds(5), _ condition: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(10))
        }
        Issue.record("condition not met within \(timeout)")
    }
}
