import GRDB
import SwitchyardCore

extension SQLiteStore: ReleaseRepository {
    package func apply(_ change: ConfigurationChange) async throws {
        try await pool.write { db in
            let now = Self.now()
            for object in change.objects {
                try Self.write(object, db: db, now: now)
            }
            for key in change.deletedObjects {
                try Self.delete(key: key, db: db)
            }
            if let rollout = change.rollout {
                let summary = RolloutSummary(rollout)
                try db.execute(
                    sql: """
                        INSERT INTO rollouts (id, model, canary, stable, state, reason, rollout_json, created_at, updated_at, ended_at,
                            current_step, step_count, canary_weight_bp, evaluation_count, shadow_verdict)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        ON CONFLICT(id) DO UPDATE SET state = excluded.state, reason = excluded.reason, rollout_json = excluded.rollout_json,
                            updated_at = excluded.updated_at, ended_at = excluded.ended_at, current_step = excluded.current_step,
                            step_count = excluded.step_count, canary_weight_bp = excluded.canary_weight_bp,
                            evaluation_count = excluded.evaluation_count, shadow_verdict = excluded.shadow_verdict
                        """,
                    arguments: [
                        rollout.id, rollout.model, rollout.canary, rollout.stable, rollout.state.rawValue, rollout.reason, try Self.encode(rollout),
                        rollout.createdAt, rollout.updatedAt, summary.endedAt, summary.currentStep, summary.stepCount,
                        summary.canaryWeightBasisPoints, summary.evaluationCount, summary.shadowVerdict,
                    ])
                if let event = change.rolloutEvent {
                    try db.execute(
                        sql: """
                            INSERT INTO rollout_events (rollout_id, time, state, step, canary_weight_bp, detail) VALUES (?, ?, ?, ?, ?, ?)
                            """,
                        arguments: [rollout.id, now, rollout.state.rawValue, rollout.currentStep, rollout.canaryWeightBasisPoints, event])
                }
            }
            try Self.write(experimentOf: change, db: db)
            for entry in change.audit {
                try Self.audit(
                    db, time: entry.time, actor: entry.actor, source: entry.source.rawValue, object: entry.object, action: entry.action,
                    before: entry.before, after: entry.after)
            }
        }
    }

    package func loadRollouts() async throws -> [Rollout] {
        try await pool.read { db in
            try String.fetchAll(db, sql: "SELECT rollout_json FROM rollouts ORDER BY created_at").map { try Self.decode(Rollout.self, $0) }
        }
    }

    package func loadRollout(id: String) async throws -> Rollout? {
        try await pool.read { db in
            try String.fetchOne(db, sql: "SELECT rollout_json FROM rollouts WHERE id = ?", arguments: [id]).map { try Self.decode(Rollout.self, $0) }
        }
    }

    package func rolloutSummaries(_ query: RolloutQuery) async throws -> [RolloutSummary] {
        try await pool.read { db in
            var conditions: [String] = []
            var arguments: StatementArguments = []
            if let model = query.model {
                conditions.append("model = ?")
                arguments += [model]
            }
            if let state = query.state {
                conditions.append("state = ?")
                arguments += [state.rawValue]
            }
            if let since = query.since {
                conditions.append("created_at >= ?")
                arguments += [since]
            }
            if let after = query.after {
                conditions.append("(created_at < ? OR (created_at = ? AND id < ?))")
                arguments += [after.startedAt, after.startedAt, after.id]
            }
            let filter = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
            arguments += [query.limit]
            let sql = """
                SELECT id, model, canary, stable, state, reason, created_at, ended_at, current_step, step_count, canary_weight_bp,
                    evaluation_count, shadow_verdict
                FROM rollouts \(filter) ORDER BY created_at DESC, id DESC LIMIT ?
                """
            return try Row.fetchAll(db, sql: sql, arguments: arguments).map { row in
                RolloutSummary(
                    id: row["id"], model: row["model"], canary: row["canary"], stable: row["stable"],
                    state: Rollout.State(rawValue: row["state"]) ?? .aborted, reason: row["reason"], startedAt: row["created_at"],
                    endedAt: row["ended_at"], currentStep: row["current_step"], stepCount: row["step_count"],
                    canaryWeightBasisPoints: row["canary_weight_bp"], evaluationCount: row["evaluation_count"],
                    shadowVerdict: row["shadow_verdict"])
            }
        }
    }

    package func versionTimes(model: String) async throws -> [String: VersionTimes] {
        try await pool.read { db in
            var times: [String: VersionTimes] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT name, created_at, updated_at FROM versions WHERE model = ?", arguments: [model]) {
                times[row["name"]] = VersionTimes(createdAt: row["created_at"], updatedAt: row["updated_at"])
            }
            return times
        }
    }

    package func auditLog(object: String?, since: Double?, limit: Int) async throws -> [AuditEntry] {
        try await pool.read { db in
            var conditions: [String] = []
            var arguments: StatementArguments = []
            if let object {
                conditions.append("object = ?")
                arguments += [object]
            }
            if let since {
                conditions.append("time >= ?")
                arguments += [since]
            }
            let filter = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
            arguments += [limit]
            return try Row.fetchAll(db, sql: "SELECT * FROM audit_log \(filter) ORDER BY id DESC LIMIT ?", arguments: arguments).map { row in
                AuditEntry(
                    id: row["id"], time: row["time"], actor: row["actor"],
                    source: AuditEntry.Source(rawValue: row["source"]) ?? .system, object: row["object"], action: row["action"],
                    before: row["before_json"], after: row["after_json"])
            }
        }
    }
}

extension SQLiteStore {
    /// Deletes a provider, model (its versions and backends cascade) or user by key.
    static func delete(key: String, db: Database) throws {
        let parts = key.split(separator: ":", maxSplits: 1).map(String.init)
        guard parts.count == 2 else { return }
        switch parts[0] {
        case "provider": try db.execute(sql: "DELETE FROM providers WHERE id = ?", arguments: [parts[1]])
        case "model": try db.execute(sql: "DELETE FROM models WHERE name = ?", arguments: [parts[1]])
        case "user": try db.execute(sql: "DELETE FROM users WHERE id = ?", arguments: [parts[1]])
        default: break
        }
    }
}
