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
            try db.execute(sql: "DELETE FROM experiment_rollup WHERE experiment = ?", arguments: [deleted])
        }
    }

    /// From `experiment_rollup`: one row per variant however long the experiment ran.
    package func experimentTotals(_ experiment: String) async throws -> [String: VariantTotals] {
        try await pool.read { db in
            var totals: [String: VariantTotals] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT * FROM experiment_rollup WHERE experiment = ?", arguments: [experiment]) {
                totals[row["variant"]] = try VariantTotals(rollupRow: row)
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
