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
        (
            // Tokens per minute and budgets across instances: counters every instance's outcome
            // batches add to, and one function that decides an admission against all of a user's limits.
            "0005-shared-tokens-and-spend",
            [
                "ALTER TABLE rate_windows DROP COLUMN admitted",
                // Windows are searched by bisection from now on: in time order (statement times were appended in commit order).
                "UPDATE rate_windows SET times = ARRAY(SELECT t FROM unnest(times) AS t ORDER BY t)",
                // Per user and second of the database's clock: what finished requests used. Unlogged, like the windows.
                "CREATE UNLOGGED TABLE user_tokens (user_id TEXT NOT NULL, second BIGINT NOT NULL, tokens BIGINT NOT NULL, PRIMARY KEY (user_id, second))",
                "CREATE INDEX user_tokens_by_second ON user_tokens(second)",
                // Logged: a crash must not forgive a month's spend.
                """
                CREATE TABLE user_spend (
                    user_id TEXT PRIMARY KEY, day_start DOUBLE PRECISION NOT NULL, day_usd DOUBLE PRECISION NOT NULL,
                    month_start DOUBLE PRECISION NOT NULL, month_usd DOUBLE PRECISION NOT NULL)
                """,
                PostgresStore.recountSpend,
                admitFunction,
            ]
        ),
    ]

    /// `switchyard_admit(user, requests_per_minute, requests_per_hour, tokens_per_minute, estimated_tokens,
    /// daily_usd, monthly_usd)`: decides one admission against every limit the user has (a `NULL` limit
    /// is none). Budgets and tokens are read from the counters; request limits lock the user's window,
    /// so concurrent admissions on every instance are serialized and exact. The clock is read after
    /// that lock, so a window is appended in time order, and pruned and counted by binary search
    /// (`width_bucket`): the cost does not grow with the number of admissions it holds.
    static let admitFunction = """
        CREATE FUNCTION switchyard_admit(
            p_user TEXT, p_requests_per_minute BIGINT, p_requests_per_hour BIGINT, p_tokens_per_minute BIGINT, p_tokens BIGINT,
            p_daily_usd DOUBLE PRECISION, p_monthly_usd DOUBLE PRECISION,
            OUT refused_by TEXT, OUT retry_after DOUBLE PRECISION, OUT minute_requests BIGINT, OUT requests_reset DOUBLE PRECISION,
            OUT minute_tokens BIGINT, OUT tokens_reset DOUBLE PRECISION, OUT day_usd DOUBLE PRECISION, OUT month_usd DOUBLE PRECISION,
            OUT admitted_at DOUBLE PRECISION)
        LANGUAGE plpgsql AS $$
        DECLARE
            t DOUBLE PRECISION := extract(epoch FROM clock_timestamp());
            day_begins DOUBLE PRECISION := extract(epoch FROM date_trunc('day', clock_timestamp() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC');
            month_begins DOUBLE PRECISION := extract(epoch FROM date_trunc('month', clock_timestamp() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC');
            spend RECORD;
            bucket RECORD;
            oldest_second BIGINT;
            freed BIGINT := 0;
            wait DOUBLE PRECISION;
            window_times DOUBLE PRECISION[];
            before_minute INT;
        BEGIN
            retry_after := 0; minute_requests := 0; requests_reset := 0; minute_tokens := 0; tokens_reset := 0;
            day_usd := 0; month_usd := 0;
            IF p_daily_usd IS NOT NULL OR p_monthly_usd IS NOT NULL THEN
                SELECT s.day_start, s.day_usd, s.month_start, s.month_usd INTO spend FROM user_spend s WHERE s.user_id = p_user;
                IF FOUND THEN
                    IF spend.day_start >= day_begins THEN day_usd := spend.day_usd; END IF;
                    IF spend.month_start >= month_begins THEN month_usd := spend.month_usd; END IF;
                END IF;
                IF day_usd >= p_daily_usd THEN
                    refused_by := 'daily_budget';
                ELSIF month_usd >= p_monthly_usd THEN
                    refused_by := 'monthly_budget';
                END IF;
                IF refused_by IS NOT NULL THEN
                    admitted_at := t;
                    RETURN;
                END IF;
            END IF;
            IF p_tokens_per_minute IS NOT NULL THEN
                -- A second's counter may hold tokens of the last 60 s while it began up to 61 s ago.
                SELECT COALESCE(sum(u.tokens), 0), min(u.second) INTO minute_tokens, oldest_second
                    FROM user_tokens u WHERE u.user_id = p_user AND u.second > t - 61;
                tokens_reset := COALESCE(oldest_second + 61 - t, 0);
                IF minute_tokens > 0 AND minute_tokens + p_tokens > p_tokens_per_minute THEN
                    -- Wait until enough of the minute's tokens have left the window.
                    wait := 60;
                    FOR bucket IN SELECT u.second, u.tokens FROM user_tokens u
                        WHERE u.user_id = p_user AND u.second > t - 61 ORDER BY u.second
                    LOOP
                        freed := freed + bucket.tokens;
                        IF minute_tokens - freed + p_tokens <= p_tokens_per_minute OR freed >= minute_tokens THEN
                            wait := bucket.second + 61 - t;
                            EXIT;
                        END IF;
                    END LOOP;
                    refused_by := 'tokens_per_minute';
                    retry_after := wait;
                END IF;
            END IF;
            IF p_requests_per_minute IS NOT NULL OR p_requests_per_hour IS NOT NULL THEN
                INSERT INTO rate_windows AS w (user_id, times) VALUES (p_user, '{}') ON CONFLICT (user_id) DO NOTHING;
                SELECT w.times INTO window_times FROM rate_windows w WHERE w.user_id = p_user FOR UPDATE;
                t := extract(epoch FROM clock_timestamp());
                -- Keep what a limit still counts: the last hour with an hourly limit, else the last minute.
                window_times := window_times[width_bucket(t - CASE WHEN p_requests_per_hour IS NULL THEN 60 ELSE 3600 END, window_times) + 1:];
                before_minute := width_bucket(t - 60, window_times);
                minute_requests := cardinality(window_times) - before_minute;
                IF minute_requests >= p_requests_per_minute THEN
                    wait := window_times[before_minute + 1 + minute_requests - p_requests_per_minute] + 60 - t;
                    IF refused_by IS NULL OR wait > retry_after THEN refused_by := 'requests_per_minute'; retry_after := wait; END IF;
                END IF;
                IF cardinality(window_times) >= p_requests_per_hour THEN
                    wait := window_times[1 + cardinality(window_times) - p_requests_per_hour] + 3600 - t;
                    IF refused_by IS NULL OR wait > retry_after THEN refused_by := 'requests_per_hour'; retry_after := wait; END IF;
                END IF;
                IF refused_by IS NULL THEN
                    window_times := window_times || t;
                    minute_requests := minute_requests + 1;
                END IF;
                UPDATE rate_windows w SET times = window_times WHERE w.user_id = p_user;
                requests_reset := COALESCE(window_times[before_minute + 1] + 60 - t, 0);
            END IF;
            admitted_at := t;
        END
        $$
        """

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
