import Foundation
import GRDB
import GRDBSQLite
import Logging
import Prometheus
import ServiceLifecycle
import SwitchyardCore
import Synchronization

/// Queues outcome events in memory and writes them to SQLite every interval, in one transaction: the
/// request log and the per-minute rollups. `record` never waits for the database.
///
/// Batches smaller than `backlogLimit` are written by a thread of their own at idle priority
/// (`IdlePriorityThread`): a batch costs milliseconds of CPU, and at normal priority a request's
/// thread that woke up behind it waited for the end of its time slice (most of the added p99 at one
/// connection, docs/decisions.md). Larger batches, and every batch once that thread has been busy
/// with one for `patience` (the CPUs are busy and it hardly runs), are written at normal priority:
/// the idle-priority thread then rolls its transaction back at its next statement and hands its
/// events back, so a write at normal priority never waits for a thread that gets no CPU, and the
/// queue holds about one interval's events whatever the load.
package final class EventWriter: OutcomeSink, Service {
    private let store: SQLiteStore
    private let interval: Duration
    private let patienceNanoseconds: UInt64
    private let logger: Logger
    private let queue = Mutex<[OutcomeEvent]>([])
    /// Set while a write at normal priority is wanted: the idle-priority thread gives its transaction up.
    private let backgroundGivesWay = Atomic<Bool>(false)
    private let writeFailures: Counter
    private let catchUpWrites: Counter
    private let queued: Gauge
    private let sqliteMemory: Gauge

    /// Batches of this many events or more are written at normal priority: about 16,000 requests/s at
    /// the default interval, where the CPU a batch takes is better spent at once than queued behind
    /// everything else (and a saturated machine would give the idle-priority thread none).
    static let backlogLimit = 4_096

    /// `registry`: where its gauges and counters are exported (the gateway's `/metrics`). `patience`:
    /// how long the idle-priority thread may be busy with one run before writes happen at normal priority.
    package init(
        store: SQLiteStore, interval: Duration = .milliseconds(250), patience: Duration = .milliseconds(500),
        registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry(), logger: Logger
    ) {
        self.store = store
        self.interval = interval
        let (seconds, attoseconds) = patience.components
        patienceNanoseconds = UInt64(max(0, seconds * 1_000_000_000 + attoseconds / 1_000_000_000))
        self.logger = logger
        writeFailures = registry.makeCounter(
            descriptor: MetricNameDescriptor(
                metricName: "switchyard_outcome_write_failures", unitName: "total",
                helpText: "Batches of outcomes whose write to the database failed (kept and retried)."))
        catchUpWrites = registry.makeCounter(
            descriptor: MetricNameDescriptor(
                metricName: "switchyard_outcome_catch_up_writes", unitName: "total",
                helpText: "Writes of outcomes at normal priority because the idle-priority writer fell behind (busy CPUs)."))
        queued = registry.makeGauge(
            descriptor: MetricNameDescriptor(
                metricName: "switchyard_outcome_events_queued", unitName: "", helpText: "Outcomes waiting to be written to the database."))
        sqliteMemory = registry.makeGauge(
            descriptor: MetricNameDescriptor(
                metricName: "switchyard_sqlite_memory", unitName: "bytes", helpText: "Memory SQLite holds (sqlite3_memory_used)."))
    }

    package func record(_ event: OutcomeEvent) {
        queue.withLock { $0.append(event) }
    }

    /// Writes batches until graceful shutdown, then writes what is still queued.
    package func run() async throws {
        let background = IdlePriorityThread(name: "switchyard-outcomes") { [self] in writeInBackground() }
        var starved = false
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            try? await cancelWhenGracefulShutdown { [interval] in try await Task.sleep(for: interval) }
            let backgroundIsBehind = background.isRunning(forAtLeast: patienceNanoseconds)
            if backgroundIsBehind {
                if !starved {
                    logger.notice("the CPUs are busy and the idle-priority outcome writer is behind: writing at normal priority")
                }
                catchUpWrites.increment()
            }
            starved = backgroundIsBehind
            if backgroundIsBehind || pendingCount >= Self.backlogLimit {
                await writeAtNormalPriority(after: background)
            } else {
                background.wake()
            }
        }
        backgroundGivesWay.store(true, ordering: .relaxed)
        await background.stop()
        await flushLogging()
    }

    /// Everything queued, at normal priority, once the idle-priority thread has given its run up.
    private func writeAtNormalPriority(after background: IdlePriorityThread) async {
        backgroundGivesWay.store(true, ordering: .relaxed)
        await background.waitForCurrentRun()
        await flushLogging()
        backgroundGivesWay.store(false, ordering: .relaxed)
    }

    /// Runs on the idle-priority thread: what was queued when it was woken (what arrives meanwhile
    /// waits for the next interval), in one transaction. Puts the events back if it gives way.
    private func writeInBackground() {
        let batch = takeQueued(upTo: Self.backlogLimit)
        guard !batch.isEmpty else { return }
        do {
            try store.pool.write { db in
                try Self.write(batch, db: db) { self.backgroundGivesWay.load(ordering: .relaxed) }
            }
        } catch {
            queue.withLock { $0.insert(contentsOf: batch, at: 0) }
            if !(error is GaveWay) { reportFailure(error) }
        }
        reportQueue()
    }

    /// Thrown to roll the idle-priority thread's transaction back when a write at normal priority waits.
    struct GaveWay: Error {}

    private func flushLogging() async {
        do {
            try await flush()
        } catch {
            reportFailure(error)
        }
        reportQueue()
    }

    private func reportFailure(_ error: any Error) {
        writeFailures.increment()
        logger.error("writing outcome events failed", metadata: ["error": "\(error)"])
    }

    private func reportQueue() {
        queued.set(Double(pendingCount))
        sqliteMemory.set(Double(sqlite3_memory_used()))
    }

    /// Writes every queued event now, at the caller's priority. Events are put back if the write fails, so none is lost.
    package func flush() async throws {
        let batch = takeQueued(upTo: .max)
        guard !batch.isEmpty else { return }
        do {
            try await store.pool.write { db in try Self.write(batch, db: db) }
        } catch {
            queue.withLock { $0.insert(contentsOf: batch, at: 0) }
            throw error
        }
    }

    /// The oldest `limit` queued events, taken off the queue.
    private func takeQueued(upTo limit: Int) -> [OutcomeEvent] {
        queue.withLock { queue in
            guard queue.count <= limit else {
                let batch = Array(queue[..<limit])
                queue.removeFirst(limit)
                return batch
            }
            let batch = queue
            // Room for as many as this interval had, not the most any interval ever had: a burst's
            // queue is given back once traffic falls.
            queue = []
            queue.reserveCapacity(batch.count)
            return batch
        }
    }

    package var pendingCount: Int {
        queue.withLock { $0.count }
    }

    private struct RollupKey: Hashable {
        var minute: Int
        var model: String
        var version: String
        var backend: String
        var experiment: String
        var variant: String
    }

    private struct ExperimentKey: Hashable {
        var experiment: String
        var variant: String
    }

    /// `request_log` inserts of 32 rows, and of 16, 8, 4, 2 or 1 for the rest of a batch: SQLite's fixed
    /// cost per statement (the cursors on the table and its indexes, a statement savepoint) was about
    /// a fifth of a row's. Six sizes, not one per row count: each prepared statement costs time once
    /// and memory for as long as it is cached.
    private static let largestInsertPower = 5
    /// In the order `insertRows` binds them.
    private static let requestLogColumns = [
        "time", "request_id", "user_id", "model", "version", "backend", "endpoint", "status", "stream", "latency_ms", "ttft_ms",
        "tokens_in", "tokens_out", "cost_usd", "error", "trace_id", "experiment", "variant", "shadow", "shadow_similarity",
        "shadow_exact", "cached_input_tokens", "cache_write_tokens",
    ]
    /// The insert of `1 << power` rows, by power.
    private static let insertSQL: [String] = (0...largestInsertPower).map { power in
        let row = "(" + Array(repeating: "?", count: requestLogColumns.count).joined(separator: ", ") + ")"
        return "INSERT INTO request_log (\(requestLogColumns.joined(separator: ", "))) VALUES "
            + Array(repeating: row, count: 1 << power).joined(separator: ", ")
    }

    /// `givingWay` is asked between statements; when it says so the write stops (throws `GaveWay`).
    static func write(_ events: [OutcomeEvent], db: Database, givingWay: () -> Bool = { false }) throws {
        var start = 0
        while start < events.count {
            if givingWay() { throw GaveWay() }
            let power = min(largestInsertPower, Int.bitWidth - 1 - (events.count - start).leadingZeroBitCount)
            let rows = events[start..<start + (1 << power)]
            try insertRows(rows, with: try db.cachedStatement(sql: insertSQL[power]), db: db)
            start += rows.count
        }
        var rollups: [RollupKey: VariantTotals] = [:]
        var experimentRollups: [ExperimentKey: VariantTotals] = [:]
        var examples: [OutcomeEvent] = []
        for event in events {
            guard !event.shadow else {
                if event.agreement?.example != nil { examples.append(event) }
                continue
            }
            let key = RollupKey(
                minute: Int(event.time / 60) * 60, model: event.model, version: event.version, backend: event.backend,
                experiment: event.experiment ?? "", variant: event.variant ?? "")
            rollups[key, default: VariantTotals()].add(event)
            if let experiment = event.experiment {
                experimentRollups[ExperimentKey(experiment: experiment, variant: event.variant ?? ""), default: VariantTotals()].add(event)
            }
        }
        for (key, rollup) in rollups {
            if givingWay() { throw GaveWay() }
            try merge(
                rollup, into: "rollup_minute", keyColumns: ["minute", "model", "version", "backend", "experiment", "variant"],
                key: [key.minute, key.model, key.version, key.backend, key.experiment, key.variant], db: db)
        }
        for (key, rollup) in experimentRollups {
            try merge(rollup, into: "experiment_rollup", keyColumns: ["experiment", "variant"], key: [key.experiment, key.variant], db: db)
        }
        if !examples.isEmpty { try keepExamples(examples, db: db) }
    }

    /// Stores the answer pairs of shadow copies that kept their text, then keeps only the `keep_examples`
    /// pairs of each shadow version that differ most (lowest similarity).
    private static func keepExamples(_ events: [OutcomeEvent], db: Database) throws {
        let insert = try db.cachedStatement(
            sql: """
                INSERT INTO shadow_examples (model, version, request_id, time, similarity, primary_text, shadow_text)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                """)
        var versions: [String: (model: String, version: String, keep: Int)] = [:]
        for event in events {
            guard let agreement = event.agreement, let example = agreement.example else { continue }
            try insert.execute(
                arguments: [event.model, event.version, event.requestID, event.time, agreement.similarity, example.primary, example.shadow])
            let key = event.model + "\u{0}" + event.version
            versions[key] = (event.model, event.version, max(versions[key]?.keep ?? 0, example.keep))
        }
        for (model, version, keep) in versions.values {
            try db.execute(
                sql: """
                    DELETE FROM shadow_examples WHERE model = ? AND version = ? AND id NOT IN (
                        SELECT id FROM shadow_examples WHERE model = ? AND version = ? ORDER BY similarity, time DESC LIMIT ?)
                    """, arguments: [model, version, model, version, keep])
        }
    }

    /// Binds and runs one `request_log` insert of `events.count` rows through SQLite's own calls:
    /// GRDB's `StatementArguments` boxed each of the values, about a quarter of the writer's cost per
    /// row. The values are stored as GRDB stores them (a `Bool` as 0 or 1).
    private static func insertRows(_ events: ArraySlice<OutcomeEvent>, with insert: Statement, db: Database) throws {
        let statement = insert.sqliteStatement
        var column: Int32 = 0
        func bind(_ text: String?) {
            column += 1
            // `withCString` lends a native string's own bytes; passing the String converts through a new array.
            if let text {
                _ = text.withCString { sqlite3_bind_text(statement, column, $0, -1, transient) }
            } else {
                sqlite3_bind_null(statement, column)
            }
        }
        func bind(_ number: Double?) {
            column += 1
            if let number { sqlite3_bind_double(statement, column, number) } else { sqlite3_bind_null(statement, column) }
        }
        func bind(_ integer: Int) {
            column += 1
            sqlite3_bind_int64(statement, column, Int64(integer))
        }
        sqlite3_reset(statement)
        for event in events {
            bind(event.time)
            bind(event.requestID)
            bind(event.userID)
            bind(event.model)
            bind(event.version)
            bind(event.backend)
            bind(event.endpoint)
            bind(event.status)
            bind(event.stream ? 1 : 0)
            bind(event.latencyMilliseconds)
            bind(event.timeToFirstTokenMilliseconds)
            bind(event.inputTokens)
            bind(event.outputTokens)
            bind(event.costUSD)
            bind(event.error)
            bind(event.traceID)
            bind(event.experiment)
            bind(event.variant)
            bind(event.shadow ? 1 : 0)
            bind(event.agreement?.similarity)
            if let agreement = event.agreement { bind(agreement.exactMatch ? 1 : 0) } else { bind(nil as Double?) }
            bind(event.cachedInputTokens)
            bind(event.cacheWriteTokens)
        }
        let code = sqlite3_step(statement)
        sqlite3_reset(statement)
        sqlite3_clear_bindings(statement)
        guard code == SQLITE_DONE else {
            throw DatabaseError(resultCode: ResultCode(rawValue: code), message: String(cString: sqlite3_errmsg(db.sqliteConnection)))
        }
    }

    /// SQLite copies the text before the call returns.
    private static let transient = unsafeBitCast(OpaquePointer(bitPattern: -1), to: sqlite3_destructor_type.self)

    /// Adds a batch's rollup to the stored row with the same key, or stores it.
    private static func merge(
        _ rollup: VariantTotals, into table: String, keyColumns: [String], key: StatementArguments, db: Database
    ) throws {
        var rollup = rollup
        // Cached statements: preparing these two each time cost more than the rest of a batch.
        let condition = keyColumns.map { "\($0) = ?" }.joined(separator: " AND ")
        let select = try db.cachedStatement(sql: "SELECT * FROM \(table) WHERE \(condition)")
        if let row = try Row.fetchOne(select, arguments: key) {
            rollup.merge(try VariantTotals(rollupRow: row))
        }
        let placeholders = Array(repeating: "?", count: keyColumns.count + 14).joined(separator: ", ")
        let upsert = try db.cachedStatement(
            sql: "INSERT OR REPLACE INTO \(table) (\(keyColumns.joined(separator: ", ")), \(VariantTotals.rollupColumns)) VALUES (\(placeholders))")
        try upsert.execute(arguments: key + (try rollup.rollupArguments()))
    }
}

/// The columns `rollup_minute` and `experiment_rollup` share, as totals.
extension VariantTotals {
    static let rollupColumns = """
        requests, errors, latency_sum_ms, latency_square_sum_ms, latency_buckets_json, ttft_count, ttft_sum_ms, ttft_buckets_json,
        tokens_in, tokens_out, cost_usd, cost_square_sum, tokens_cached_in, tokens_cache_write
        """

    init(rollupRow row: Row) throws {
        self.init()
        requests = row["requests"]
        errors = row["errors"]
        latency = Statistics.Moments(count: requests, sum: row["latency_sum_ms"], sumOfSquares: row["latency_square_sum_ms"])
        latencyHistogram = LatencyHistogram(counts: try SQLiteStore.decode([Int].self, row["latency_buckets_json"]))
        ttftCount = row["ttft_count"]
        ttftSum = row["ttft_sum_ms"]
        ttftHistogram = LatencyHistogram(counts: try SQLiteStore.decode([Int].self, row["ttft_buckets_json"]))
        inputTokens = row["tokens_in"]
        outputTokens = row["tokens_out"]
        cachedInputTokens = row["tokens_cached_in"]
        cacheWriteTokens = row["tokens_cache_write"]
        cost = Statistics.Moments(count: requests, sum: row["cost_usd"], sumOfSquares: row["cost_square_sum"])
    }

    func rollupArguments() throws -> StatementArguments {
        [
            requests, errors, latency.sum, latency.sumOfSquares, try SQLiteStore.encode(latencyHistogram.counts), ttftCount, ttftSum,
            try SQLiteStore.encode(ttftHistogram.counts), inputTokens, outputTokens, cost.sum, cost.sumOfSquares, cachedInputTokens,
            cacheWriteTokens,
        ]
    }
}
