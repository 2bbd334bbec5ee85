import Foundation
import Logging
import PostgresNIO
import Prometheus
import ServiceLifecycle
import SwitchyardCore
import Synchronization

/// Queues outcome events in memory and writes them to PostgreSQL in one transaction per interval:
/// the request log, the per-minute and per-experiment rollups and each user's token and spend
/// counters, which every instance adds to with one upsert per key (`requests = requests +
/// excluded.requests`, buckets added element by element), so the totals are those of all
/// instances. `record` never waits for the database.
///
/// While the database is unreachable the queue is kept and retried, up to `capacity` events; events
/// beyond it are dropped and counted (`switchyard_outcome_events_dropped_total`).
package final class PostgresEventWriter: OutcomeSink, Service {
    private let store: PostgresStore
    private let interval: Duration
    private let capacity: Int
    private let logger: Logger
    private let queue = Mutex<(events: [OutcomeEvent], dropped: Int)>(([], 0))
    private let writeFailures: Counter
    private let droppedCounter: Counter
    private let queued: Gauge

    package init(
        store: PostgresStore, interval: Duration = .milliseconds(250), capacity: Int = 100_000,
        registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry(), logger: Logger
    ) {
        self.store = store
        self.interval = interval
        self.capacity = capacity
        self.logger = logger
        writeFailures = registry.makeCounter(
            descriptor: MetricNameDescriptor(
                metricName: "switchyard_outcome_write_failures", unitName: "total",
                helpText: "Batches of outcomes whose write to the database failed (kept and retried)."))
        droppedCounter = registry.makeCounter(
            descriptor: MetricNameDescriptor(
                metricName: "switchyard_outcome_events_dropped", unitName: "total",
                helpText: "Outcomes dropped because the queue for an unreachable database was full."))
        queued = registry.makeGauge(
            descriptor: MetricNameDescriptor(
                metricName: "switchyard_outcome_events_queued", unitName: "", helpText: "Outcomes waiting to be written to the database."))
    }

    package func record(_ event: OutcomeEvent) {
        let dropped = queue.withLock { queue -> Bool in
            guard queue.events.count < capacity else {
                queue.dropped += 1
                return true
            }
            queue.events.append(event)
            return false
        }
        if dropped { droppedCounter.increment() }
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
            writeFailures.increment()
            logger.error("writing outcome events failed", metadata: ["error": "\(PostgresStoreError(error))"])
        }
        queued.set(Double(pendingCount))
    }

    /// Writes every queued event now. Events are put back if the write fails, so none is lost
    /// (unless the queue is full).
    package func flush() async throws {
        let batch = queue.withLock { queue in
            let batch = queue.events
            // Room for as many as this interval had: a burst's queue is given back once traffic falls.
            queue.events = []
            queue.events.reserveCapacity(batch.count)
            return batch
        }
        guard !batch.isEmpty else { return }
        do {
            try await store.transaction { [logger] connection in try await Self.write(batch, connection: connection, logger: logger) }
        } catch {
            queue.withLock { queue in
                let room = max(0, capacity - queue.events.count)
                queue.dropped += max(0, batch.count - room)
                queue.events.insert(contentsOf: batch.prefix(room), at: 0)
            }
            throw error
        }
    }

    package var pendingCount: Int {
        queue.withLock { $0.events.count }
    }

    /// Events dropped because the queue was full.
    package var droppedCount: Int {
        queue.withLock { $0.dropped }
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

    private static let requestColumns = """
        time, request_id, user_id, model, version, backend, endpoint, status, stream, latency_ms, ttft_ms, tokens_in, tokens_out,
        cost_usd, error, trace_id, experiment, variant, shadow, shadow_similarity, shadow_exact, cached_input_tokens, cache_write_tokens,
        fell_back_from
        """

    private static func write(_ events: [OutcomeEvent], connection: PostgresConnection, logger: Logger) async throws {
        // Many rows per statement: one round trip per 500 events rather than per event.
        for chunk in stride(from: 0, to: events.count, by: 500).map({ events[$0..<min($0 + 500, events.count)] }) {
            var statement = DynamicQuery()
            var rows: [String] = []
            for event in chunk {
                let values = [
                    statement.bind(event.time), statement.bind(event.requestID), statement.bind(event.userID), statement.bind(event.model),
                    statement.bind(event.version), statement.bind(event.backend), statement.bind(event.endpoint), statement.bind(event.status),
                    statement.bind(event.stream), statement.bind(event.latencyMilliseconds), statement.bind(event.timeToFirstTokenMilliseconds),
                    statement.bind(event.inputTokens), statement.bind(event.outputTokens), statement.bind(event.costUSD),
                    statement.bind(event.error), statement.bind(event.traceID), statement.bind(event.experiment), statement.bind(event.variant),
                    statement.bind(event.shadow), statement.bind(event.agreement?.similarity), statement.bind(event.agreement?.exactMatch),
                    statement.bind(event.cachedInputTokens), statement.bind(event.cacheWriteTokens), statement.bind(event.fellBackFrom),
                ]
                rows.append("(" + values.joined(separator: ", ") + ")")
            }
            statement.sql = "INSERT INTO request_log (\(requestColumns)) VALUES " + rows.joined(separator: ", ")
            try await connection.run(statement.query, logger: logger)
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
        // In key order, so two instances adding to the same rows lock them in the same order (no deadlock).
        for (key, rollup) in rollups.sorted(by: {
            ($0.key.minute, $0.key.model, $0.key.version, $0.key.backend, $0.key.experiment, $0.key.variant) < (
                $1.key.minute, $1.key.model, $1.key.version, $1.key.backend, $1.key.experiment, $1.key.variant
            )
        }) {
            var statement = DynamicQuery()
            let keys = [
                statement.bind(key.minute), statement.bind(key.model), statement.bind(key.version), statement.bind(key.backend),
                statement.bind(key.experiment), statement.bind(key.variant),
            ]
            statement.sql = merge(
                rollup, into: "rollup_minute", keyColumns: "minute, model, version, backend, experiment, variant", keys: keys, statement: &statement)
            try await connection.run(statement.query, logger: logger)
        }
        for (key, rollup) in experimentRollups.sorted(by: { ($0.key.experiment, $0.key.variant) < ($1.key.experiment, $1.key.variant) }) {
            var statement = DynamicQuery()
            let keys = [statement.bind(key.experiment), statement.bind(key.variant)]
            statement.sql = merge(rollup, into: "experiment_rollup", keyColumns: "experiment, variant", keys: keys, statement: &statement)
            try await connection.run(statement.query, logger: logger)
        }
        if !examples.isEmpty { try await keepExamples(examples, connection: connection, logger: logger) }
        try await addToUserCounters(events, connection: connection, logger: logger)
    }

    /// Adds what the batch's requests used to each user's counters, which shared admissions check
    /// tokens per minute and budgets against: tokens under the database's current second (kept two
    /// minutes), cost under the UTC day and month the request was served in.
    private static func addToUserCounters(_ events: [OutcomeEvent], connection: PostgresConnection, logger: Logger) async throws {
        var tokens: [String: Int] = [:]
        var spend: [BudgetPeriods: [String: Double]] = [:]
        var periods: BudgetPeriods?
        for event in events where !event.shadow {
            let used = event.inputTokens + event.outputTokens
            if used > 0 { tokens[event.userID, default: 0] += used }
            guard event.costUSD > 0 else { continue }
            if periods.map({ !($0.dayStart..<$0.dayStart + 86_400).contains(event.time) }) ?? true {
                periods = BudgetPeriods(at: event.time)
            }
            spend[periods!, default: [:]][event.userID, default: 0] += event.costUSD
        }
        // Users in order, so two instances adding to the same rows lock them in the same order.
        if !tokens.isEmpty {
            let users = tokens.keys.sorted()
            try await connection.run(
                """
                INSERT INTO user_tokens (user_id, second, tokens)
                SELECT u, floor(extract(epoch FROM statement_timestamp()))::bigint, n
                FROM unnest(\(users)::text[], \(users.map { tokens[$0]! })::bigint[]) AS x(u, n)
                ON CONFLICT (user_id, second) DO UPDATE SET tokens = user_tokens.tokens + excluded.tokens
                """, logger: logger)
        }
        try await connection.run(
            "DELETE FROM user_tokens WHERE second < floor(extract(epoch FROM statement_timestamp())) - 120", logger: logger)
        for (periods, costs) in spend.sorted(by: { $0.key.dayStart < $1.key.dayStart }) {
            let users = costs.keys.sorted()
            // A batch served before the stored day (or month) began adds nothing to that day (or month).
            try await connection.run(
                """
                INSERT INTO user_spend (user_id, day_start, day_usd, month_start, month_usd)
                SELECT u, \(periods.dayStart), c, \(periods.monthStart), c FROM unnest(\(users)::text[], \(users.map { costs[$0]! })::float8[]) AS x(u, c)
                ON CONFLICT (user_id) DO UPDATE SET
                    day_usd = CASE WHEN excluded.day_start > user_spend.day_start THEN excluded.day_usd
                        WHEN excluded.day_start = user_spend.day_start THEN user_spend.day_usd + excluded.day_usd ELSE user_spend.day_usd END,
                    day_start = GREATEST(user_spend.day_start, excluded.day_start),
                    month_usd = CASE WHEN excluded.month_start > user_spend.month_start THEN excluded.month_usd
                        WHEN excluded.month_start = user_spend.month_start THEN user_spend.month_usd + excluded.month_usd
                        ELSE user_spend.month_usd END,
                    month_start = GREATEST(user_spend.month_start, excluded.month_start)
                """, logger: logger)
        }
    }

    /// An upsert that adds `rollup` to the stored row with the same key.
    private static func merge(_ rollup: VariantTotals, into table: String, keyColumns: String, keys: [String], statement: inout DynamicQuery)
        -> String
    {
        let values = [
            statement.bind(rollup.requests), statement.bind(rollup.errors), statement.bind(rollup.latency.sum),
            statement.bind(rollup.latency.sumOfSquares), statement.bind(rollup.latencyHistogram.counts), statement.bind(rollup.ttftCount),
            statement.bind(rollup.ttftSum), statement.bind(rollup.ttftHistogram.counts), statement.bind(rollup.inputTokens),
            statement.bind(rollup.outputTokens), statement.bind(rollup.cost.sum), statement.bind(rollup.cost.sumOfSquares),
            statement.bind(rollup.cachedInputTokens), statement.bind(rollup.cacheWriteTokens),
        ]
        func added(_ column: String) -> String { "\(column) = \(table).\(column) + excluded.\(column)" }
        func addedBuckets(_ column: String) -> String {
            """
            \(column) = ARRAY(SELECT COALESCE(a, 0) + COALESCE(b, 0)
                FROM unnest(\(table).\(column), excluded.\(column)) WITH ORDINALITY AS t(a, b, i) ORDER BY i)
            """
        }
        return """
            INSERT INTO \(table) (\(keyColumns), requests, errors, latency_sum_ms, latency_square_sum_ms, latency_buckets, ttft_count,
                ttft_sum_ms, ttft_buckets, tokens_in, tokens_out, cost_usd, cost_square_sum, tokens_cached_in, tokens_cache_write)
            VALUES (\((keys + values).joined(separator: ", ")))
            ON CONFLICT (\(keyColumns)) DO UPDATE SET \(added("requests")), \(added("errors")), \(added("latency_sum_ms")),
                \(added("latency_square_sum_ms")), \(addedBuckets("latency_buckets")), \(added("ttft_count")), \(added("ttft_sum_ms")),
                \(addedBuckets("ttft_buckets")), \(added("tokens_in")), \(added("tokens_out")), \(added("cost_usd")),
                \(added("cost_square_sum")), \(added("tokens_cached_in")), \(added("tokens_cache_write"))
            """
    }

    /// Stores the answer pairs of shadow copies that kept their text, then keeps only the `keep_examples`
    /// pairs of each shadow version that differ most (lowest similarity).
    private static func keepExamples(_ events: [OutcomeEvent], connection: PostgresConnection, logger: Logger) async throws {
        var versions: [String: (model: String, version: String, keep: Int)] = [:]
        for event in events {
            guard let agreement = event.agreement, let example = agreement.example else { continue }
            try await connection.run(
                """
                INSERT INTO shadow_examples (model, version, request_id, time, similarity, primary_text, shadow_text)
                VALUES (\(event.model), \(event.version), \(event.requestID), \(event.time), \(agreement.similarity), \(example.primary),
                    \(example.shadow))
                """, logger: logger)
            let key = event.model + "\u{0}" + event.version
            versions[key] = (event.model, event.version, max(versions[key]?.keep ?? 0, example.keep))
        }
        for (model, version, keep) in versions.values {
            try await connection.run(
                """
                DELETE FROM shadow_examples WHERE model = \(model) AND version = \(version) AND id NOT IN (
                    SELECT id FROM shadow_examples WHERE model = \(model) AND version = \(version) ORDER BY similarity, time DESC LIMIT \(keep))
                """, logger: logger)
        }
    }
}

extension VariantTotals {
    /// From a `rollup_minute` or `experiment_rollup` row.
    init(postgresRow row: PostgresRandomAccessRow) throws {
        self.init()
        requests = try row.get("requests")
        errors = try row.get("errors")
        latency = Statistics.Moments(count: requests, sum: try row.get("latency_sum_ms"), sumOfSquares: try row.get("latency_square_sum_ms"))
        latencyHistogram = LatencyHistogram(counts: try row.get("latency_buckets"))
        ttftCount = try row.get("ttft_count")
        ttftSum = try row.get("ttft_sum_ms")
        ttftHistogram = LatencyHistogram(counts: try row.get("ttft_buckets"))
        inputTokens = try row.get("tokens_in")
        outputTokens = try row.get("tokens_out")
        cachedInputTokens = try row.get("tokens_cached_in")
        cacheWriteTokens = try row.get("tokens_cache_write")
        cost = Statistics.Moments(count: requests, sum: try row.get("cost_usd"), sumOfSquares: try row.get("cost_square_sum"))
    }
}
