import GRDB
import SwitchyardCore

extension SQLiteStore: ExperimentRepository {
    package func loadExperiments() async throws -> [Experiment] {
        try await pool.read { db in
            try String.fetchAll(db, sql: "SELECT experiment_json FROM experiments ORDER BY created_at").map { try Self.decode(Experiment.self, $0) }
        }
    }

    /// Writes an experiment change inside the transaction of `apply`.
    static func write(experimentOf change: ConfigurationChange, db: Database) throws {
        if let experiment = change.experiment {
            try db.execute(
                sql: """
                    INSERT INTO experiments (id, model, status, experiment_json, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)
                    ON CONFLICT(id) DO UPDATE SET status = excluded.status, experiment_json = excluded.experiment_json,
                        updated_at = excluded.updated_at
                    """,
                arguments: [
                    experiment.id, experiment.model, experiment.status.rawValue, try Self.encode(experiment), experiment.createdAt,
                    experiment.updatedAt,
                ])
        }
        if let deleted = change.deletedExperiment {
            try db.execute(sql: "DELETE FROM experiments WHERE id = ?", arguments: [deleted])
            try db.execute(sql: "DELETE FROM experiment_feedback WHERE experiment = ?", arguments: [deleted])
        }
    }

    package func experimentTotals(_ experiment: String) async throws -> [String: VariantTotals] {
        try await pool.read { db in
            var totals: [String: VariantTotals] = [:]
            let rows = try Row.fetchCursor(
                db,
                sql: """
                    SELECT variant, requests, errors, latency_sum_ms, latency_square_sum_ms, latency_buckets_json, ttft_count, ttft_sum_ms,
                        ttft_buckets_json, tokens_in, tokens_out, cost_usd, cost_square_sum
                    FROM rollup_minute WHERE experiment = ? AND experiment != ''
                    """, arguments: [experiment])
            while let row = try rows.next() {
                let variant: String = row["variant"]
                var total = totals[variant] ?? VariantTotals()
                let requests: Int = row["requests"]
                total.requests += requests
                total.errors += row["errors"] as Int
                total.latency.count += requests
                total.latency.sum += row["latency_sum_ms"] as Double
                total.latency.sumOfSquares += row["latency_square_sum_ms"] as Double
                total.latencyHistogram.merge(LatencyHistogram(counts: try Self.decode([Int].self, row["latency_buckets_json"])))
                total.ttftCount += row["ttft_count"] as Int
                total.ttftSum += row["ttft_sum_ms"] as Double
                total.ttftHistogram.merge(LatencyHistogram(counts: try Self.decode([Int].self, row["ttft_buckets_json"])))
                total.inputTokens += row["tokens_in"] as Int
                total.outputTokens += row["tokens_out"] as Int
                total.cost.count += requests
                total.cost.sum += row["cost_usd"] as Double
                total.cost.sumOfSquares += row["cost_square_sum"] as Double
                totals[variant] = total
            }
            for row in try Row.fetchAll(
                db,
                sql: """
                    SELECT variant, COUNT(*) AS count, SUM(score) AS total, SUM(score * score) AS squares
                    FROM experiment_feedback WHERE experiment = ? GROUP BY variant
                    """, arguments: [experiment])
            {
                let variant: String = row["variant"]
                totals[variant, default: VariantTotals()].feedback = Statistics.Moments(
                    count: row["count"], sum: row["total"], sumOfSquares: row["squares"])
            }
            return totals
        }
    }

    package func assignment(ofRequest requestID: String) async throws -> (experiment: String, variant: String)? {
        try await pool.read { db in
            guard
                let row = try Row.fetchOne(
                    db, sql: "SELECT experiment, variant FROM request_log WHERE request_id = ? AND experiment IS NOT NULL ORDER BY id DESC LIMIT 1",
                    arguments: [requestID]),
                let experiment: String = row["experiment"]
            else { return nil }
            return (experiment, row["variant"] ?? "")
        }
    }

    package func saveFeedback(_ feedback: ExperimentFeedback) async throws {
        try await pool.write { db in
            try db.execute(
                sql: """
                    INSERT OR REPLACE INTO experiment_feedback (experiment, request_id, variant, user_id, score, time) VALUES (?, ?, ?, ?, ?, ?)
                    """,
                arguments: [feedback.experiment, feedback.requestID, feedback.variant, feedback.user, feedback.score, feedback.time])
        }
    }
}
