import Logging
import PostgresNIO

/// Numbered schema migrations, applied at start under an advisory lock so that instances starting
/// together do not race; each runs in its own transaction (PostgreSQL's DDL is transactional).
/// Never edit a shipped migration: add the next one. The first is SQLite's schema as of its
/// `v8-cached-tokens`, with PostgreSQL's types (booleans, 64-bit integers, histogram buckets as arrays).
enum PostgresMigrations {
    /// `pg_advisory_lock` key of the migration step ("SWYD" + 1).
    static let lockKey: Int64 = 0x5357_5944_0000_0001

    static let all: [(name: String, statements: [String])] = [
        (
            "0001-schema",
            [
                """
                CREATE TABLE settings (key TEXT PRIMARY KEY, value_json TEXT NOT NULL, updated_at DOUBLE PRECISION NOT NULL)
                """,
                """
                CREATE TABLE providers (
                    id TEXT PRIMARY KEY, format TEXT NOT NULL, base_url TEXT, api_key TEXT, headers_json TEXT NOT NULL DEFAULT '{}',
                    region TEXT, timeout_seconds DOUBLE PRECISION, cost_input_per_mtok DOUBLE PRECISION NOT NULL DEFAULT 0,
                    cost_output_per_mtok DOUBLE PRECISION NOT NULL DEFAULT 0, health_check TEXT, health_check_model TEXT,
                    enabled BOOLEAN NOT NULL DEFAULT TRUE, api_version TEXT, models_path TEXT, speaks TEXT NOT NULL DEFAULT 'openai',
                    responses BOOLEAN, cost_cached_input_per_mtok DOUBLE PRECISION, cost_cache_write_per_mtok DOUBLE PRECISION,
                    created_at DOUBLE PRECISION NOT NULL, updated_at DOUBLE PRECISION NOT NULL)
                """,
                """
                CREATE TABLE models (
                    name TEXT PRIMARY KEY, strategy TEXT NOT NULL, enabled BOOLEAN NOT NULL DEFAULT TRUE, smart_ai_json TEXT,
                    sticky TEXT NOT NULL DEFAULT 'user', hash_seed TEXT, previous_default TEXT, seed_rollout_json TEXT,
                    release_strategy TEXT NOT NULL DEFAULT 'weight', shadow_json TEXT,
                    created_at DOUBLE PRECISION NOT NULL, updated_at DOUBLE PRECISION NOT NULL)
                """,
                """
                CREATE TABLE versions (
                    model TEXT NOT NULL REFERENCES models(name) ON DELETE CASCADE, name TEXT NOT NULL, position BIGINT NOT NULL,
                    weight_bp BIGINT NOT NULL CHECK (weight_bp BETWEEN 0 AND 10000), is_default BOOLEAN NOT NULL DEFAULT FALSE,
                    is_active BOOLEAN NOT NULL DEFAULT TRUE, params_json TEXT NOT NULL DEFAULT '{}',
                    created_at DOUBLE PRECISION NOT NULL, updated_at DOUBLE PRECISION NOT NULL, PRIMARY KEY (model, name))
                """,
                """
                CREATE TABLE backends (
                    id BIGSERIAL PRIMARY KEY, model TEXT NOT NULL, version TEXT NOT NULL, position BIGINT NOT NULL, provider TEXT NOT NULL,
                    upstream_model TEXT NOT NULL, weight DOUBLE PRECISION NOT NULL DEFAULT 1, priority BIGINT NOT NULL DEFAULT 0,
                    tags_json TEXT NOT NULL DEFAULT '[]', mock_json TEXT, deployment TEXT,
                    FOREIGN KEY (model, version) REFERENCES versions(model, name) ON DELETE CASCADE)
                """,
                "CREATE INDEX backends_by_version ON backends(model, version, position)",
                """
                CREATE TABLE users (
                    id TEXT PRIMARY KEY, name TEXT, token_hash TEXT NOT NULL, allowed_models_json TEXT NOT NULL DEFAULT '[]',
                    tags_json TEXT NOT NULL DEFAULT '[]', region TEXT, rate_limit_json TEXT, budget_json TEXT,
                    enabled BOOLEAN NOT NULL DEFAULT TRUE, created_at DOUBLE PRECISION NOT NULL, updated_at DOUBLE PRECISION NOT NULL)
                """,
                "CREATE TABLE admin_tokens (name TEXT PRIMARY KEY, token_hash TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL)",
                "CREATE TABLE seed_state (object TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, applied_at DOUBLE PRECISION NOT NULL)",
                """
                CREATE TABLE audit_log (
                    id BIGSERIAL PRIMARY KEY, time DOUBLE PRECISION NOT NULL, actor TEXT NOT NULL,
                    source TEXT NOT NULL CHECK (source IN ('seed', 'api', 'rollout', 'system')), object TEXT NOT NULL,
                    action TEXT NOT NULL, before_json TEXT, after_json TEXT)
                """,
                "CREATE INDEX audit_log_by_object ON audit_log(object, time)",
                "CREATE INDEX audit_log_by_time ON audit_log(time)",
                """
                CREATE TABLE request_log (
                    id BIGSERIAL PRIMARY KEY, time DOUBLE PRECISION NOT NULL, request_id TEXT NOT NULL, user_id TEXT NOT NULL,
                    model TEXT NOT NULL, version TEXT NOT NULL, backend TEXT NOT NULL, endpoint TEXT NOT NULL, status BIGINT NOT NULL,
                    stream BOOLEAN NOT NULL, latency_ms DOUBLE PRECISION NOT NULL, ttft_ms DOUBLE PRECISION, tokens_in BIGINT NOT NULL,
                    tokens_out BIGINT NOT NULL, cost_usd DOUBLE PRECISION NOT NULL, error TEXT, trace_id TEXT, experiment TEXT,
                    variant TEXT, shadow BOOLEAN NOT NULL DEFAULT FALSE, shadow_similarity DOUBLE PRECISION, shadow_exact BOOLEAN,
                    cached_input_tokens BIGINT NOT NULL DEFAULT 0, cache_write_tokens BIGINT NOT NULL DEFAULT 0)
                """,
                "CREATE INDEX request_log_by_time ON request_log(time)",
                "CREATE INDEX request_log_by_user_time ON request_log(user_id, time)",
                "CREATE INDEX request_log_by_request_id ON request_log(request_id)",
                "CREATE INDEX request_log_shadow ON request_log(model, version, time) WHERE shadow",
                """
                CREATE TABLE rollup_minute (
                    minute BIGINT NOT NULL, model TEXT NOT NULL, version TEXT NOT NULL, backend TEXT NOT NULL,
                    experiment TEXT NOT NULL DEFAULT '', variant TEXT NOT NULL DEFAULT '', \(rollupColumns),
                    PRIMARY KEY (minute, model, version, backend, experiment, variant))
                """,
                "CREATE TABLE experiment_rollup (experiment TEXT NOT NULL, variant TEXT NOT NULL, \(rollupColumns), PRIMARY KEY (experiment, variant))",
                """
                CREATE TABLE sessions (
                    user_id TEXT NOT NULL, session_id TEXT NOT NULL, model TEXT NOT NULL, version TEXT NOT NULL, backend TEXT NOT NULL,
                    expires_at DOUBLE PRECISION NOT NULL, updated_at DOUBLE PRECISION NOT NULL, PRIMARY KEY (user_id, session_id))
                """,
                "CREATE INDEX sessions_by_expiry ON sessions(expires_at)",
                """
                CREATE TABLE rollouts (
                    id TEXT PRIMARY KEY, model TEXT NOT NULL, canary TEXT NOT NULL, stable TEXT NOT NULL DEFAULT '', state TEXT NOT NULL,
                    reason TEXT, rollout_json TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL, updated_at DOUBLE PRECISION NOT NULL,
                    ended_at DOUBLE PRECISION, current_step BIGINT NOT NULL DEFAULT 0, step_count BIGINT NOT NULL DEFAULT 0,
                    canary_weight_bp BIGINT NOT NULL DEFAULT 0, evaluation_count BIGINT NOT NULL DEFAULT 0, shadow_verdict TEXT)
                """,
                "CREATE INDEX rollouts_by_start ON rollouts(created_at, id)",
                "CREATE INDEX rollouts_by_model_start ON rollouts(model, created_at, id)",
                "CREATE INDEX rollouts_by_state_start ON rollouts(state, created_at, id)",
                """
                CREATE TABLE rollout_events (
                    id BIGSERIAL PRIMARY KEY, rollout_id TEXT NOT NULL REFERENCES rollouts(id) ON DELETE CASCADE,
                    time DOUBLE PRECISION NOT NULL, state TEXT NOT NULL, step BIGINT NOT NULL, canary_weight_bp BIGINT NOT NULL,
                    detail TEXT NOT NULL)
                """,
                "CREATE INDEX rollout_events_by_rollout ON rollout_events(rollout_id, time)",
                """
                CREATE TABLE provider_models (
                    provider TEXT PRIMARY KEY, models_json TEXT NOT NULL, fetched_at DOUBLE PRECISION NOT NULL, error TEXT)
                """,
                """
                CREATE TABLE experiments (
                    id TEXT PRIMARY KEY, model TEXT NOT NULL, status TEXT NOT NULL, experiment_json TEXT NOT NULL,
                    created_at DOUBLE PRECISION NOT NULL, updated_at DOUBLE PRECISION NOT NULL)
                """,
                "CREATE INDEX experiments_by_model ON experiments(model, status)",
                """
                CREATE TABLE experiment_feedback (
                    experiment TEXT NOT NULL, request_id TEXT NOT NULL, variant TEXT NOT NULL, user_id TEXT, score DOUBLE PRECISION NOT NULL,
                    time DOUBLE PRECISION NOT NULL, PRIMARY KEY (experiment, request_id))
                """,
                """
                CREATE TABLE shadow_examples (
                    id BIGSERIAL PRIMARY KEY, model TEXT NOT NULL, version TEXT NOT NULL, request_id TEXT NOT NULL,
                    time DOUBLE PRECISION NOT NULL, similarity DOUBLE PRECISION NOT NULL, primary_text TEXT NOT NULL,
                    shadow_text TEXT NOT NULL)
                """,
                "CREATE INDEX shadow_examples_by_version ON shadow_examples(model, version, similarity)",
            ]
        ),
        (
            // The version a request fell back from failed it: the controller counts that against the version.
            "0002-fell-back-from",
            [
                "ALTER TABLE request_log ADD COLUMN fell_back_from TEXT",
                "CREATE INDEX request_log_by_version ON request_log(model, version, time)",
                "CREATE INDEX request_log_fell_back ON request_log(model, fell_back_from, time) WHERE fell_back_from IS NOT NULL",
            ]
        ),
        (
            // Experiment results and time series count cached prompt tokens apart, as the request log does.
            "0003-cached-token-rollups",
            [
                "ALTER TABLE rollup_minute ADD COLUMN tokens_cached_in BIGINT NOT NULL DEFAULT 0",
                "ALTER TABLE rollup_minute ADD COLUMN tokens_cache_write BIGINT NOT NULL DEFAULT 0",
                "ALTER TABLE experiment_rollup ADD COLUMN tokens_cached_in BIGINT NOT NULL DEFAULT 0",
                "ALTER TABLE experiment_rollup ADD COLUMN tokens_cache_write BIGINT NOT NULL DEFAULT 0",
            ]
        ),
        (
            // Per-user request limits counted across instances: the admission times of the last hour.
            // Unlogged: an admission waits for no WAL flush; after a server crash the windows start empty.
            "0004-rate-windows",
            [
                "CREATE UNLOGGED TABLE rate_windows (user_id TEXT PRIMARY KEY, times DOUBLE PRECISION[] NOT NULL, admitted BOOLEAN NOT NULL)",
                // Rewritten on every admission: stored out of line but not compressed.
                "ALTER TABLE rate_windows ALTER COLUMN times SET STORAGE EXTERNAL",
            ]
        ),
    ]

    /// The totals `rollup_minute` and `experiment_rollup` share; histogram buckets as arrays, so
    /// instances add to them in one statement.
    static let rollupColumns = """
        requests BIGINT NOT NULL, errors BIGINT NOT NULL, latency_sum_ms DOUBLE PRECISION NOT NULL,
        latency_square_sum_ms DOUBLE PRECISION NOT NULL, latency_buckets BIGINT[] NOT NULL, ttft_count BIGINT NOT NULL,
        ttft_sum_ms DOUBLE PRECISION NOT NULL, ttft_buckets BIGINT[] NOT NULL, tokens_in BIGINT NOT NULL, tokens_out BIGINT NOT NULL,
        cost_usd DOUBLE PRECISION NOT NULL, cost_square_sum DOUBLE PRECISION NOT NULL
        """

    /// Applies the migrations `store`'s database lacks, holding the migration lock on one connection.
    static func migrate(_ store: PostgresStore) async throws {
        let logger = store.logger
        try await store.client.withConnection { connection in
            try await connection.run("SELECT pg_advisory_lock(\(lockKey))", logger: logger)
            do {
                try await connection.run(
                    "CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at DOUBLE PRECISION NOT NULL)", logger: logger)
                let applied = Set(
                    try await connection.rows("SELECT name FROM schema_migrations", logger: logger).map { try $0.get("name", as: String.self) })
                if let unknown = applied.subtracting(all.map(\.name)).sorted().last {
                    throw PostgresSchemaError(
                        description: "the database has migration \(unknown), which this binary does not know: it was written by a newer Switchyard")
                }
                for migration in all where !applied.contains(migration.name) {
                    _ = try await connection.withTransaction(logger: logger) { connection in
                        for statement in migration.statements {
                            try await connection.run(PostgresQuery(unsafeSQL: statement), logger: logger)
                        }
                        try await connection.run(
                            "INSERT INTO schema_migrations (name, applied_at) VALUES (\(migration.name), \(PostgresStore.now()))", logger: logger)
                    }
                    logger.notice("database migrated", metadata: ["migration": .string(migration.name)])
                }
            } catch {
                try? await connection.run("SELECT pg_advisory_unlock(\(lockKey))", logger: logger)
                throw error
            }
            try await connection.run("SELECT pg_advisory_unlock(\(lockKey))", logger: logger)
        }
    }
}

package struct PostgresSchemaError: Error, CustomStringConvertible {
    package var description: String
}
