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
    }

    private static func write(_ events: [OutcomeEvent], db: Database) throws {
        let insert = try db.cachedStatement(
            sql: """
                INSERT INTO request_log (time, request_id, user_id, model, version, backend, endpoint, status, stream,
                    latency_ms, ttft_ms, tokens_in, tokens_out, cost_usd, error, trace_id, experiment, variant)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """)
        var rollups: [RollupKey: Rollup] = [:]
        for event in events {
            try insert.execute(arguments: [
                event.time, event.requestID, event.userID, event.model, event.version, event.backend, event.endpoint,
                event.status, event.stream, event.latencyMilliseconds, event.timeToFirstTokenMilliseconds, event.inputTokens,
                event.outputTokens, event.costUSD, event.error, event.traceID, event.experiment, event.variant,
            ])
            let key = RollupKey(
                minute: Int(event.time / 60) * 60, model: event.model, version: event.version, backend: event.backend,
                experiment: event.experiment ?? "", variant: event.variant ?? "")
            var rollup = rollups[key] ?? Rollup()
            rollup.requests += 1
            rollup.errors += event.isError ? 1 : 0
            rollup.latencySum += event.latencyMilliseconds
            rollup.latencySquareSum += event.latencyMilliseconds * event.latencyMilliseconds
            rollup.latency.add(milliseconds: event.latencyMilliseconds)
            if let ttft = event.timeToFirstTokenMilliseconds {
                rollup.ttftCount += 1
                rollup.ttftSum += ttft
                rollup.ttft.add(milliseconds: ttft)
            }
            rollup.tokensIn += event.inputTokens
            rollup.tokensOut += event.outputTokens
            rollup.cost += event.costUSD
            rollup.costSquareSum += event.costUSD * event.costUSD
            rollups[key] = rollup
        }
        for (key, var rollup) in rollups {
            let arguments: StatementArguments = [key.minute, key.model, key.version, key.backend, key.experiment, key.variant]
            if let row = try Row.fetchOne(
                db,
                sql: """
                    SELECT * FROM rollup_minute WHERE minute = ? AND model = ? AND version = ? AND backend = ? AND experiment = ? AND variant = ?
                    """, arguments: arguments)
            {
                rollup.requests += row["requests"]
                rollup.errors += row["errors"]
                rollup.latencySum += row["latency_sum_ms"]
                rollup.latencySquareSum += row["latency_square_sum_ms"]
                rollup.latency.merge(LatencyHistogram(counts: try SQLiteStore.decode([Int].self, row["latency_buckets_json"])))
                rollup.ttftCount += row["ttft_count"]
                rollup.ttftSum += row["ttft_sum_ms"]
                rollup.ttft.merge(LatencyHistogram(counts: try SQLiteStore.decode([Int].self, row["ttft_buckets_json"])))
                rollup.tokensIn += row["tokens_in"]
                rollup.tokensOut += row["tokens_out"]
                rollup.cost += row["cost_usd"]
                rollup.costSquareSum += row["cost_square_sum"]
            }
            try db.execute(
                sql: """
                    INSERT OR REPLACE INTO rollup_minute (minute, model, version, backend, experiment, variant, requests, errors,
                        latency_sum_ms, latency_square_sum_ms, latency_buckets_json, ttft_count, ttft_sum_ms, ttft_buckets_json,
                        tokens_in, tokens_out, cost_usd, cost_square_sum)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: arguments + [
                    rollup.requests, rollup.errors, rollup.latencySum, rollup.latencySquareSum, try SQLiteStore.encode(rollup.latency.counts),
                    rollup.ttftCount, rollup.ttftSum, try SQLiteStore.encode(rollup.ttft.counts), rollup.tokensIn,
                    rollup.tokensOut, rollup.cost, rollup.costSquareSum,
                ])
        }
    }
}
