import Foundation
import Logging
import PostgresNIO
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
            #expect(
                try await store.appliedMigrations() == [
                    "0001-schema", "0002-fell-back-from", "0003-cached-token-rollups", "0004-rate-windows", "0005-shared-tokens-and-spend",
                ])
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

    static func admission(_ user: String, _ limits: RateLimitSpec, budget: BudgetSpec? = nil, tokens: Int = 0) -> SharedAdmissionRequest {
        SharedAdmissionRequest(user: user, rateLimit: limits, budget: budget, estimatedTokens: tokens)
    }

    @Test func requestLimitsAdmitExactlyTheLimitAcrossInstances() async throws {
        let url = try TemporaryPostgres.makeDatabase()
        var stores: [PostgresStore] = []
        for _ in 0..<3 { stores.append(try await Self.connect(url)) }
        // 3 × 40 admissions at once for a user allowed 50 a minute and 100 an hour.
        let limits = RateLimitSpec(requestsPerMinute: 50, requestsPerHour: 100)
        let results = try await withThrowingTaskGroup(of: SharedAdmission.self) { group in
            for index in 0..<120 {
                let store = stores[index % stores.count]
                group.addTask { try await store.admit(Self.admission("dave", limits)) }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let admitted = results.filter(\.admitted)
        #expect(admitted.count == 50)
        // Each admission saw the ones before it: the window grew by one each time, in time order.
        #expect(admitted.map(\.minuteRequests).sorted() == Array(1...50))
        #expect(admitted.sorted { $0.now < $1.now }.map(\.minuteRequests) == Array(1...50))
        for result in results where !result.admitted {
            #expect(result.minuteRequests == 50 && result.refusal == .requestsPerMinute)
            let refused = RateLimiter.decision(of: result, spec: limits, estimatedTokens: 0)
            #expect(!refused.allowed && refused.limit == "requests_per_minute" && refused.retryAfter > 59 && refused.remainingRequests == 0)
        }
        // Another user's window is its own; an hourly limit refuses for the rest of the hour.
        #expect(try await stores[1].admit(Self.admission("erin", RateLimitSpec(requestsPerMinute: 1))).admitted)
        #expect(try await stores[2].admit(Self.admission("erin", RateLimitSpec(requestsPerMinute: 1))).refusal == .requestsPerMinute)
        let hourly = RateLimitSpec(requestsPerHour: 2)
        #expect(try await stores[0].admit(Self.admission("fay", hourly)).admitted)
        #expect(try await stores[1].admit(Self.admission("fay", hourly)).admitted)
        let refused = try await stores[2].admit(Self.admission("fay", hourly))
        #expect(refused.refusal == .requestsPerHour && refused.retryAfter > 3_590 && refused.retryAfter <= 3_600)
        for store in stores { store.close() }
    }

    @Test func tokensAndSpendWrittenByOneInstanceLimitAdmissionsOnAnother() async throws {
        let url = try TemporaryPostgres.makeDatabase()
        let a = try await Self.connect(url)
        let b = try await Self.connect(url)
        let writer = PostgresEventWriter(store: a, logger: Logger(label: "test"))
        let now = Date().timeIntervalSince1970
        func served(_ index: Int, user: String, tokens: Int, cost: Double, shadow: Bool = false) {
            var event = StoreTests.event(index, time: now)
            event.userID = user
            (event.inputTokens, event.outputTokens, event.costUSD, event.shadow) = (tokens / 2, tokens - tokens / 2, cost, shadow)
            writer.record(event)
        }
        let tokenLimit = RateLimitSpec(tokensPerMinute: 1_000)
        #expect(try await b.admit(Self.admission("gus", tokenLimit, tokens: 5_000)).admitted, "the first request of a minute is never refused")
        served(1, user: "gus", tokens: 700, cost: 0)
        served(2, user: "gus", tokens: 900, cost: 0, shadow: true)  // the operator's copy is not the user's
        try await writer.flush()
        let within = try await b.admit(Self.admission("gus", tokenLimit, tokens: 300))
        #expect(within.admitted && within.minuteTokens == 700)
        #expect(RateLimiter.decision(of: within, spec: tokenLimit, estimatedTokens: 300).remainingTokens == 0)
        let over = try await b.admit(Self.admission("gus", tokenLimit, tokens: 301))
        #expect(over.refusal == .tokensPerMinute && over.retryAfter > 59 && over.retryAfter <= 61)

        let budget = BudgetSpec(dailyUSD: 1, monthlyUSD: 10)
        served(3, user: "hal", tokens: 10, cost: 0.6)
        try await writer.flush()
        let under = try await b.admit(Self.admission("hal", RateLimitSpec(), budget: budget))
        #expect(under.admitted && abs(under.daySpendUSD - 0.6) < 1e-9 && abs(under.monthSpendUSD - 0.6) < 1e-9)
        served(4, user: "hal", tokens: 10, cost: 0.4)
        try await writer.flush()
        #expect(try await b.admit(Self.admission("hal", RateLimitSpec(), budget: budget)).refusal == .dailyBudget)
        // A refusal by the budget takes no request slot.
        let both = RateLimitSpec(requestsPerMinute: 5)
        #expect(try await b.admit(Self.admission("hal", both, budget: budget)).minuteRequests == 0)
        #expect(try await b.admit(Self.admission("hal", both, budget: BudgetSpec(monthlyUSD: 10))).minuteRequests == 1)

        // An appliance's database copied in: its spend of this month counts at once.
        served(5, user: "ivy", tokens: 10, cost: 3)
        try await writer.flush()
        _ = try await a.rows("DELETE FROM user_spend")
        _ = try await a.rows(PostgresQuery(unsafeSQL: PostgresStore.recountSpend))
        #expect(try await b.admit(Self.admission("ivy", RateLimitSpec(), budget: BudgetSpec(monthlyUSD: 3))).refusal == .monthlyBudget)
        a.close()
        b.close()
    }

    @Test func ofRolloutsStartedOnSeveralInstancesAtOnceOneIsKept() async throws {
        let url = try TemporaryPostgres.makeDatabase()
        var stores: [PostgresStore] = []
        for _ in 0..<3 { stores.append(try await Self.connect(url)) }
        _ = try await stores[0].applySeed(try StoreTests.seed())
        let model = try #require(try await stores[0].loadConfiguration().models.first).withWeight(100, for: "v2")
        // Each instance saw no rollout of the model in its snapshot and starts its own.
        let results = await withTaskGroup(of: Result<Void, any Error>.self) { group in
            for (index, store) in stores.enumerated() {
                var rollout = Rollout(
                    id: "r-\(index)", model: model.name, canary: "v2", stable: "v1", steps: [.setWeight(basisPoints: 100), .pause(seconds: nil)],
                    analysis: .standard, now: 1_000)
                _ = rollout.advance(now: 1_000)
                let change = ConfigurationChange(objects: [.model(model)], rollout: rollout, rolloutEvent: "started")
                group.addTask {
                    do {
                        try await store.apply(change)
                        return .success(())
                    } catch {
                        return .failure(error)
                    }
                }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(results.filter { (try? $0.get()) != nil }.count == 1)
        for case .failure(let error) in results {
            #expect((error as? ReleaseError)?.status == 409, "\(error)")
        }
        #expect(try await stores[1].loadRollouts().count == 1)
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
