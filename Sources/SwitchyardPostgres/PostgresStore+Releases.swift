import Logging
import PostgresNIO
import SwitchyardCore

extension PostgresStore: ReleaseRepository {
    /// One transaction, announced to every instance when it commits.
    package func apply(_ change: ConfigurationChange) async throws {
        try await transaction { [self] connection in
            let now = Self.now()
            try await Self.refuseConcurrentRelease(change, connection: connection, logger: logger)
            for object in change.objects {
                try await Self.write(object, connection: connection, now: now, logger: logger)
            }
            for key in change.deletedObjects {
                try await Self.delete(key: key, connection: connection, logger: logger)
            }
            if let rollout = change.rollout {
                let summary = RolloutSummary(rollout)
                try await connection.run(
                    """
                    INSERT INTO rollouts (id, model, canary, stable, state, reason, rollout_json, created_at, updated_at, ended_at,
                        current_step, step_count, canary_weight_bp, evaluation_count, shadow_verdict)
                    VALUES (\(rollout.id), \(rollout.model), \(rollout.canary), \(rollout.stable), \(rollout.state.rawValue), \(rollout.reason),
                        \(try Self.encode(rollout)), \(rollout.createdAt), \(rollout.updatedAt), \(summary.endedAt), \(summary.currentStep),
                        \(summary.stepCount), \(summary.canaryWeightBasisPoints), \(summary.evaluationCount), \(summary.shadowVerdict))
                    ON CONFLICT (id) DO UPDATE SET state = excluded.state, reason = excluded.reason, rollout_json = excluded.rollout_json,
                        updated_at = excluded.updated_at, ended_at = excluded.ended_at, current_step = excluded.current_step,
                        step_count = excluded.step_count, canary_weight_bp = excluded.canary_weight_bp,
                        evaluation_count = excluded.evaluation_count, shadow_verdict = excluded.shadow_verdict
                    """, logger: logger)
                if let event = change.rolloutEvent {
                    try await connection.run(
                        """
                        INSERT INTO rollout_events (rollout_id, time, state, step, canary_weight_bp, detail)
                        VALUES (\(rollout.id), \(now), \(rollout.state.rawValue), \(rollout.currentStep), \(rollout.canaryWeightBasisPoints), \(event))
                        """, logger: logger)
                }
            }
            if let experiment = change.experiment {
                try await connection.run(
                    """
                    INSERT INTO experiments (id, model, status, experiment_json, created_at, updated_at)
                    VALUES (\(experiment.id), \(experiment.model), \(experiment.status.rawValue), \(try Self.encode(experiment)),
                        \(experiment.createdAt), \(experiment.updatedAt))
                    ON CONFLICT (id) DO UPDATE SET status = excluded.status, experiment_json = excluded.experiment_json,
                        updated_at = excluded.updated_at
                    """, logger: logger)
            }
            if let deleted = change.deletedExperiment {
                try await connection.run("DELETE FROM experiments WHERE id = \(deleted)", logger: logger)
                try await connection.run("DELETE FROM experiment_feedback WHERE experiment = \(deleted)", logger: logger)
                try await connection.run("DELETE FROM experiment_rollup WHERE experiment = \(deleted)", logger: logger)
            }
            for entry in change.audit {
                try await Self.audit(connection, entry, logger: logger)
            }
            try await announceChange(on: connection)
        }
    }

    /// Each instance checks from its own snapshot that a model has no other rollout or running
    /// experiment before starting one; two instances starting one at the same moment would both pass.
    /// The model's row is locked first, so of two such transactions the second waits for the first and
    /// then sees what it committed.
    private static func refuseConcurrentRelease(_ change: ConfigurationChange, connection: PostgresConnection, logger: Logger) async throws {
        let rollout = change.rollout.flatMap { $0.isFinished ? nil : $0 }
        let experiment = change.experiment.flatMap { $0.status == .running ? $0 : nil }
        guard let model = rollout?.model ?? experiment?.model else { return }
        try await connection.run("SELECT 1 FROM models WHERE name = \(model) FOR UPDATE", logger: logger)
        let rolloutID = rollout?.id ?? ""
        if let other = try await connection.rows(
            """
            SELECT id FROM rollouts WHERE model = \(model) AND state IN ('progressing', 'paused') AND id <> \(rolloutID) LIMIT 1
            """, logger: logger
        ).first {
            let id: String = try other.get("id")
            throw ReleaseError.conflict("model", "Rollout \(id) of '\(model)' is still active; promote or abort it first.")
        }
        let experimentID = experiment?.id ?? ""
        if let other = try await connection.rows(
            "SELECT id FROM experiments WHERE model = \(model) AND status = 'running' AND id <> \(experimentID) LIMIT 1", logger: logger
        ).first {
            let id: String = try other.get("id")
            throw ReleaseError.conflict("model", "Experiment \(id) runs on '\(model)'; pause or complete it first.")
        }
    }

    package func loadRollouts() async throws -> [Rollout] {
        try await rows("SELECT rollout_json FROM rollouts ORDER BY created_at").map { try Self.decode(Rollout.self, try $0.get("rollout_json")) }
    }

    package func loadRollout(id: String) async throws -> Rollout? {
        try await rows("SELECT rollout_json FROM rollouts WHERE id = \(id)").first.map { try Self.decode(Rollout.self, try $0.get("rollout_json")) }
    }

    package func rolloutSummaries(_ query: RolloutQuery) async throws -> [RolloutSummary] {
        var statement = DynamicQuery()
        var conditions: [String] = []
        if let model = query.model { conditions.append("model = \(statement.bind(model))") }
        if let state = query.state { conditions.append("state = \(statement.bind(state.rawValue))") }
        if let since = query.since { conditions.append("created_at >= \(statement.bind(since))") }
        if let after = query.after {
            let time = statement.bind(after.startedAt)
            conditions.append("(created_at < \(time) OR (created_at = \(time) AND id < \(statement.bind(after.id))))")
        }
        let filter = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        statement.sql = """
            SELECT id, model, canary, stable, state, reason, created_at, ended_at, current_step, step_count, canary_weight_bp,
                evaluation_count, shadow_verdict
            FROM rollouts \(filter) ORDER BY created_at DESC, id DESC LIMIT \(statement.bind(query.limit))
            """
        return try await rows(statement.query).map { row in
            RolloutSummary(
                id: try row.get("id"), model: try row.get("model"), canary: try row.get("canary"), stable: try row.get("stable"),
                state: Rollout.State(rawValue: try row.get("state")) ?? .aborted, reason: try row.get("reason"),
                startedAt: try row.get("created_at"), endedAt: try row.get("ended_at"), currentStep: try row.get("current_step"),
                stepCount: try row.get("step_count"), canaryWeightBasisPoints: try row.get("canary_weight_bp"),
                evaluationCount: try row.get("evaluation_count"), shadowVerdict: try row.get("shadow_verdict"))
        }
    }

    package func loadExperiments() async throws -> [Experiment] {
        try await rows("SELECT experiment_json FROM experiments ORDER BY created_at").map {
            try Self.decode(Experiment.self, try $0.get("experiment_json"))
        }
    }

    package func versionTimes(model: String) async throws -> [String: VersionTimes] {
        var times: [String: VersionTimes] = [:]
        for row in try await rows("SELECT name, created_at, updated_at FROM versions WHERE model = \(model)") {
            times[try row.get("name")] = VersionTimes(createdAt: try row.get("created_at"), updatedAt: try row.get("updated_at"))
        }
        return times
    }

    package func auditLog(object: String?, since: Double?, limit: Int) async throws -> [AuditEntry] {
        var statement = DynamicQuery()
        var conditions: [String] = []
        if let object { conditions.append("object = \(statement.bind(object))") }
        if let since { conditions.append("time >= \(statement.bind(since))") }
        let filter = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        statement.sql = "SELECT * FROM audit_log \(filter) ORDER BY id DESC LIMIT \(statement.bind(limit))"
        return try await rows(statement.query).map { row in
            AuditEntry(
                id: try row.get("id"), time: try row.get("time"), actor: try row.get("actor"),
                source: AuditEntry.Source(rawValue: try row.get("source")) ?? .system, object: try row.get("object"),
                action: try row.get("action"), before: try row.get("before_json"), after: try row.get("after_json"))
        }
    }
}

extension PostgresStore: SessionRepository {
    package func loadSessions(now: Double) async throws -> [SessionBinding] {
        try await rows("SELECT * FROM sessions WHERE expires_at > \(now)").map { row in
            SessionBinding(
                userID: try row.get("user_id"), sessionID: try row.get("session_id"), model: try row.get("model"),
                version: try row.get("version"), backend: try row.get("backend"), expiresAt: try row.get("expires_at"))
        }
    }

    /// Stored and announced to the other instances in one transaction.
    package func saveSession(_ binding: SessionBinding) async throws {
        let notice = try Self.encode(SessionNotice(instance: instanceID, saved: binding))
        try await transaction { [self] connection in
            try await connection.run(
                """
                INSERT INTO sessions (user_id, session_id, model, version, backend, expires_at, updated_at)
                VALUES (\(binding.userID), \(binding.sessionID), \(binding.model), \(binding.version), \(binding.backend),
                    \(binding.expiresAt), \(Self.now()))
                ON CONFLICT (user_id, session_id) DO UPDATE SET model = excluded.model, version = excluded.version,
                    backend = excluded.backend, expires_at = excluded.expires_at, updated_at = excluded.updated_at
                """, logger: logger)
            try await connection.run("SELECT pg_notify(\(Self.sessionChannel), \(notice))", logger: logger)
        }
    }

    package func deleteSession(id: String) async throws {
        let notice = try Self.encode(SessionNotice(instance: instanceID, deleted: id))
        try await transaction { [self] connection in
            try await connection.run("DELETE FROM sessions WHERE session_id = \(id)", logger: logger)
            try await connection.run("SELECT pg_notify(\(Self.sessionChannel), \(notice))", logger: logger)
        }
    }

    package func purgeSessions(expiredBefore now: Double) async throws {
        try await execute("DELETE FROM sessions WHERE expires_at <= \(now)")
    }
}

extension PostgresStore: ModelCatalogRepository {
    package func saveProviderModels(_ models: ProviderModels) async throws {
        try await execute(
            """
            INSERT INTO provider_models (provider, models_json, fetched_at, error)
            VALUES (\(models.provider), \(try Self.encode(models.models)), \(models.fetchedAt), \(models.error))
            ON CONFLICT (provider) DO UPDATE SET models_json = excluded.models_json, fetched_at = excluded.fetched_at, error = excluded.error
            """)
    }

    package func loadProviderModels(_ provider: String) async throws -> ProviderModels? {
        guard let row = try await rows("SELECT * FROM provider_models WHERE provider = \(provider)").first else { return nil }
        return ProviderModels(
            provider: provider, models: try Self.decode([String].self, try row.get("models_json")), fetchedAt: try row.get("fetched_at"),
            error: try row.get("error"))
    }
}

extension PostgresStore {
    /// The stored digest of a named admin token (e.g. the one generated at first start).
    package func adminTokenDigest(named name: String) async throws -> TokenDigest? {
        try await rows("SELECT token_hash FROM admin_tokens WHERE name = \(name)").first.flatMap { TokenDigest(hex: try $0.get("token_hash")) }
    }

    /// Stores an admin token's digest under a name, replacing any earlier one, and audits it.
    package func storeAdminToken(named name: String, digest: TokenDigest) async throws {
        try await transaction { [self] connection in
            let now = Self.now()
            try await connection.run(
                """
                INSERT INTO admin_tokens (name, token_hash, created_at) VALUES (\(name), \(digest.hex), \(now))
                ON CONFLICT (name) DO UPDATE SET token_hash = excluded.token_hash, created_at = excluded.created_at
                """, logger: logger)
            try await Self.audit(
                connection,
                AuditEntry(time: now, actor: "system", source: .system, object: "admin_token:\(name)", action: "create", before: nil, after: nil),
                logger: logger)
        }
    }
}

/// What a session notification carries (JSON, under PostgreSQL's 8000-byte payload limit: ids are
/// at most 256 bytes).
struct SessionNotice: Codable, Sendable {
    var instance: String
    var saved: SessionBinding?
    var deleted: String?
}
