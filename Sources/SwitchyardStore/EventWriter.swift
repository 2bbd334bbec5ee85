import Foundation
import GRDB
import Logging
import ServiceLifecycle
import SwitchyardCore
import Synchronization

/// Queues outcome events in memory and writes them to SQLite in one transaction per interval:
/// the request log and the per-minute rollups. `record` never waits for the database.
package final class EventWriter: OutcomeSink, Service {
    private let store: SQLiteStore
    private let interval: Duration
    private let logger: Logger
    private let queue = Mutex<[OutcomeEvent]>([])

    package init(store: SQLiteStore, interval: Duration = .milliseconds(250), logger: Logger) {
        self.store = store
        self.interval = interval
        self.logger = logger
    }

    package func record(_ event: OutcomeEvent) {
        queue.withLock { $0.append(event) }
    }

    /// Writes batches until graceful shutdown, then writes what is still queued.
    package func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            try? await cancelWhenGracefulShutdown { [interval] in try await Task.sleep(for: interval) }
            await flushLogging()
        }
        await flushLogging()
    }

    private func flushLogging() async {
        do {
            try await flush()
        } catch {
            logger.error("writing outcome events failed", metadata: ["error": "\(error)"])
        }
    }

    /// Writes every queued event now. Events are put back if the write fails, so none is lost.
    package func flush() async throws {
        let batch = queue.withLock { queue in
            let batch = queue
            queue.removeAll(keepingCapacity: true)
            return batch
        }
        guard !batch.isEmpty else { return }
        do {
            try await store.pool.write { db in try Self.write(batch, db: db) }
        } catch {
            queue.withLock { $0.insert(contentsOf: batch, at: 0) }
            throw error
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

    private struct Rollup {
        var requests = 0
        var errors = 0
        var latencySum = 0.0
        var latencySquareSum = 0.0
        var latency = LatencyHistogram()
        var ttftCount = 0
        var ttftSum = 0.0
        var ttft = LatencyHistogram()
        var tokensIn = 0
        var tokensOut = 0
        var cost = 0.0
        var costSquareSum = 0.0

        mutating func add(_ event: OutcomeEvent) {
            requests += 1
            errors += event.isError ? 1 : 0
            latencySum += event.latencyMilliseconds
            latencySquareSum += event.latencyMilliseconds * event.latencyMilliseconds
            latency.add(milliseconds: event.latencyMilliseconds)
            if let value = event.timeToFirstTokenMilliseconds {
                ttftCount += 1
                ttftSum += value
                ttft.add(milliseconds: value)
            }
            tokensIn += event.inputTokens
            tokensOut += event.outputTokens
            cost += event.costUSD
            costSquareSum += event.costUSD * event.costUSD
        }

        mutating func add(_ row: Row) throws {
            requests += row["requests"]
            errors += row["errors"]
            latencySum += row["latency_sum_ms"]
            latencySquareSum += row["latency_square_sum_ms"]
            latency.merge(LatencyHistogram(counts: try SQLiteStore.decode([Int].self, row["latency_buckets_json"])))
            ttftCount += row["ttft_count"]
            ttftSum += row["ttft_sum_ms"]
            ttft.merge(LatencyHistogram(counts: try SQLiteStore.decode([Int].self, row["ttft_buckets_json"])))
            tokensIn += row["tokens_in"]
            tokensOut += row["tokens_out"]
            cost += row["cost_usd"]
            costSquareSum += row["cost_square_sum"]
        }

        static let columns = """
            requests, errors, latency_sum_ms, latency_square_sum_ms, latency_buckets_json, ttft_count, ttft_sum_ms, ttft_buckets_json,
            tokens_in, tokens_out, cost_usd, cost_square_sum
            """

        func arguments() throws -> StatementArguments {
            [
                requests, errors, latencySum, latencySquareSum, try SQLiteStore.encode(latency.counts), ttftCount, ttftSum,
                try SQLiteStore.encode(ttft.counts), tokensIn, tokensOut, cost, costSquareSum,
            ]
        }
    }

    private static func write(_ events: [OutcomeEvent], db: Database) throws {
        let insert = try db.cachedStatement(
            sql: """
                INSERT INTO request_log (time, request_id, user_id, model, version, backend, endpoint, status, stream,
                    latency_ms, ttft_ms, tokens_in, tokens_out, cost_usd, error, trace_id, experiment, variant)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """)
        var rollups: [RollupKey: Rollup] = [:]
        var experimentRollups: [ExperimentKey: Rollup] = [:]
        for event in events {
            try insert.execute(arguments: [
                event.time, event.requestID, event.userID, event.model, event.version, event.backend, event.endpoint,
                event.status, event.stream, event.latencyMilliseconds, event.timeToFirstTokenMilliseconds, event.inputTokens,
                event.outputTokens, event.costUSD, event.error, event.traceID, event.experiment, event.variant,
            ])
            let key = RollupKey(
                minute: Int(event.time / 60) * 60, model: event.model, version: event.version, backend: event.backend,
                experiment: event.experiment ?? "", variant: event.variant ?? "")
            rollups[key, default: Rollup()].add(event)
            if let experiment = event.experiment {
                experimentRollups[ExperimentKey(experiment: experiment, variant: event.variant ?? ""), default: Rollup()].add(event)
            }
        }
        for (key, rollup) in rollups {
            try merge(
                rollup, into: "rollup_minute", keyColumns: ["minute", "model", "version", "backend", "experiment", "variant"],
                key: [key.minute, key.model, key.version, key.backend, key.experiment, key.variant], db: db)
        }
        for (key, rollup) in experimentRollups {
            try merge(rollup, into: "experiment_rollup", keyColumns: ["experiment", "variant"], key: [key.experiment, key.variant], db: db)
        }
    }

    /// Adds a batch's rollup to the stored row with the same key, or stores it.
    private static func merge(_ rollup: Rollup, into table: String, keyColumns: [String], key: StatementArguments, db: Database) throws {
        var rollup = rollup
        let condition = keyColumns.map { "\($0) = ?" }.joined(separator: " AND ")
        if let row = try Row.fetchOne(db, sql: "SELECT * FROM \(table) WHERE \(condition)", arguments: key) {
            try rollup.add(row)
        }
        let placeholders = Array(repeating: "?", count: keyColumns.count + 12).joined(separator: ", ")
        try db.execute(
            sql: "INSERT OR REPLACE INTO \(table) (\(keyColumns.joined(separator: ", ")), \(Rollup.columns)) VALUES (\(placeholders))",
            arguments: key + (try rollup.arguments()))
    }
}
