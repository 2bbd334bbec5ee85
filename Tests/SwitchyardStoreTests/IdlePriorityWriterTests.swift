import Dispatch
import Foundation
import GRDB
import Logging
import Prometheus
import ServiceLifecycle
import Synchronization
import Testing

@testable import SwitchyardCore
@testable import SwitchyardStore

#if canImport(Glibc)
    import Glibc
#endif

/// The outcome writer's thread at idle priority, and what happens when it gets no CPU.
@Suite struct IdlePriorityWriterTests {
    private final class Runs: Sendable {
        let policies = Mutex<[Int32]>([])
        let firstRunMayEnd = DispatchSemaphore(value: 0)
        let firstRunStarted = DispatchSemaphore(value: 0)
    }

    @Test func theThreadRunsItsWorkAtIdlePriorityAndFoldsTheWakesThatComeMeanwhile() async throws {
        let runs = Runs()
        let thread = IdlePriorityThread(name: "test-idle") {
            let count = runs.policies.withLock { policies in
                #if os(Linux)
                    policies.append(sched_getscheduler(0))
                #else
                    policies.append(0)
                #endif
                return policies.count
            }
            if count == 1 {
                runs.firstRunStarted.signal()
                runs.firstRunMayEnd.wait()
            }
        }
        thread.wake()
        runs.firstRunStarted.wait()
        #expect(thread.isRunning(forAtLeast: 0) && !thread.isRunning(forAtLeast: 60_000_000_000))
        for _ in 0..<5 { thread.wake() }
        let waited = Task {
            await thread.waitForCurrentRun()
            return runs.policies.withLock { $0.count }
        }
        try await Task.sleep(for: .milliseconds(50))
        runs.firstRunMayEnd.signal()
        #expect(await waited.value >= 1, "the wait ends once the first run has")
        let deadline = ContinuousClock.now + .seconds(10)
        while runs.policies.withLock({ $0.count }) < 2 && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(5))
        }
        await thread.stop()
        thread.wake()
        try await Task.sleep(for: .milliseconds(50))
        let policies = runs.policies.withLock { $0 }
        #expect(policies.count == 2, "five wakes during the first run make one more run; none after stop")
        #if os(Linux)
            #expect(thread.runsAtIdlePriority)
            #expect(policies.allSatisfy { $0 == IdlePriorityThread.idlePolicy })
        #endif
    }

    @Test func smallBatchesAndLargeOnesAreEachWrittenOnce() async throws {
        let database = try TemporaryDatabase()
        let store = try SQLiteStore(path: database.path)
        let writer = EventWriter(store: store, interval: .milliseconds(10), logger: Logger(label: "test"))
        let rows: @Sendable () async throws -> Int = {
            try await store.pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM request_log")! }
        }
        let small = 300
        let large = EventWriter.backlogLimit + 500
        let written = try await Self.run(writer, recording: [small, large], rows: rows)
        #expect(written == small + large)
        let rollup = try await store.pool.read { db in try Int.fetchOne(db, sql: "SELECT SUM(requests) FROM rollup_minute") }
        #expect(rollup == small + large, "each event counted once in the rollups, whichever thread wrote it")
    }

    @Test func theIdlePriorityWriteGivesWayBetweenStatementsAndLeavesNothingBehind() async throws {
        let database = try TemporaryDatabase()
        let store = try SQLiteStore(path: database.path)
        let events = (0..<100).map { StoreTests.event($0) }
        let asked = Mutex(0)
        await #expect(throws: EventWriter.GaveWay.self) {
            try await store.pool.write { db in
                try EventWriter.write(events, db: db) {
                    asked.withLock { count in
                        count += 1
                        return count > 2
                    }
                }
            }
        }
        let rows = try await store.pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM request_log")! }
        #expect(rows == 0, "the rows written before it gave way were rolled back")
        #expect(asked.withLock { $0 } == 3)
    }

    /// Threads of normal priority keep every CPU busy, so the idle-priority thread hardly runs (it
    /// wrote about 750 events a second in a debug build here): once it has been busy for its
    /// patience, the service has it give its transaction up and writes the events at normal priority.
    @Test func aWriterStarvedOfCPUCatchesUpAtNormalPriority() async throws {
        let database = try TemporaryDatabase()
        let store = try SQLiteStore(path: database.path)
        let registry = PrometheusCollectorRegistry()
        let writer = EventWriter(
            store: store, interval: .milliseconds(10), patience: .milliseconds(100), registry: registry, logger: Logger(label: "test"))
        let spinning = Spinners(threads: ProcessInfo.processInfo.activeProcessorCount, atMost: .seconds(20))
        defer { spinning.stop() }
        let count = EventWriter.backlogLimit - 96
        let written = try await Self.run(writer, recording: [count]) {
            try await store.pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM request_log")! }
        }
        spinning.stop()
        #expect(written == count)
        var exposition: [UInt8] = []
        registry.emit(into: &exposition)
        let catchUps = String(decoding: exposition, as: UTF8.self).split(separator: "\n")
            .first { $0.hasPrefix("switchyard_outcome_catch_up_writes_total ") }
            .flatMap { Double($0.split(separator: " ").last!) }
        #expect((catchUps ?? 0) >= 1)
    }

    /// Runs `writer` as a service and records the events of each batch in turn, each once the rows
    /// of the last are in; at most 15 s for all. Then shuts it down and returns the last count of `rows()`.
    private static func run(
        _ writer: EventWriter, recording batches: [Int], rows: @escaping @Sendable () async throws -> Int
    ) async throws -> Int {
        let group = ServiceGroup(configuration: .init(services: [writer], logger: Logger(label: "test")))
        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            let deadline = ContinuousClock.now + .seconds(15)
            var recorded = 0
            var written = 0
            for batch in batches {
                for index in recorded..<recorded + batch { writer.record(StoreTests.event(index)) }
                recorded += batch
                written = try await rows()
                while written < recorded && ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(20))
                    written = try await rows()
                }
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            return written
        }
    }
}

/// Threads that keep a CPU each busy until `stop()` or for `atMost`.
private final class Spinners: Sendable {
    private let stopped = Atomic<Bool>(false)

    init(threads: Int, atMost limit: Duration) {
        let deadline = ContinuousClock.now + limit
        for _ in 0..<threads {
            Thread { [self] in
                var turns = 0
                while !stopped.load(ordering: .relaxed) && ContinuousClock.now < deadline { turns &+= 1 }
            }.start()
        }
    }

    func stop() {
        stopped.store(true, ordering: .relaxed)
    }
}
