import GRDB

/// Numbered schema migrations. Never edit a shipped migration: add the next one.
enum Migrations {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-foundation") { db in
            try db.execute(
                sql: """
                    CREATE TABLE settings (
                        key TEXT PRIMARY KEY,
                        value_json TEXT NOT NULL,
                        updated_at REAL NOT NULL
                    );
                    CREATE TABLE providers (
                        id TEXT PRIMARY KEY,
                        format TEXT NOT NULL,
                        base_url TEXT,
                        api_key TEXT,
                        headers_json TEXT NOT NULL DEFAULT '{}',
                        region TEXT,
                        timeout_seconds REAL,
                        cost_input_per_mtok REAL NOT NULL DEFAULT 0,
                        cost_output_per_mtok REAL NOT NULL DEFAULT 0,
                        enabled INTEGER NOT NULL DEFAULT 1,
                        created_at REAL NOT NULL,
                        updated_at REAL NOT NULL
                    );
                    CREATE TABLE models (
                        name TEXT PRIMARY KEY,
                        strategy TEXT NOT NULL,
                        enabled INTEGER NOT NULL DEFAULT 1,
                        created_at REAL NOT NULL,
                        updated_at REAL NOT NULL
                    );
                    CREATE TABLE versions (
                        model TEXT NOT NULL REFERENCES models(name) ON DELETE CASCADE,
                        name TEXT NOT NULL,
                        position INTEGER NOT NULL,
                        weight_bp INTEGER NOT NULL CHECK (weight_bp BETWEEN 0 AND 10000),
                        is_default INTEGER NOT NULL DEFAULT 0,
                        is_active INTEGER NOT NULL DEFAULT 1,
                        params_json TEXT NOT NULL DEFAULT '{}',
                        created_at REAL NOT NULL,
                        updated_at REAL NOT NULL,
                        PRIMARY KEY (model, name)
                    );
                    CREATE TABLE backends (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        model TEXT NOT NULL,
                        version TEXT NOT NULL,
                        position INTEGER NOT NULL,
                        provider TEXT NOT NULL,
                        upstream_model TEXT NOT NULL,
                        weight REAL NOT NULL DEFAULT 1,
                        mock_json TEXT,
                        FOREIGN KEY (model, version) REFERENCES versions(model, name) ON DELETE CASCADE
                    );
                    CREATE INDEX backends_by_version ON backends(model, version, position);
                    CREATE TABLE users (
                        id TEXT PRIMARY KEY,
                        name TEXT,
                        token_hash TEXT NOT NULL,
                        allowed_models_json TEXT NOT NULL DEFAULT '[]',
                        enabled INTEGER NOT NULL DEFAULT 1,
                        created_at REAL NOT NULL,
                        updated_at REAL NOT NULL
                    );
                    CREATE TABLE admin_tokens (
                        name TEXT PRIMARY KEY,
                        token_hash TEXT NOT NULL,
                        created_at REAL NOT NULL
                    );
                    CREATE TABLE seed_state (
                        object TEXT PRIMARY KEY,
                        fingerprint TEXT NOT NULL,
                        applied_at REAL NOT NULL
                    );
                    CREATE TABLE audit_log (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        time REAL NOT NULL,
                        actor TEXT NOT NULL,
                        source TEXT NOT NULL CHECK (source IN ('seed', 'api', 'rollout', 'system')),
                        object TEXT NOT NULL,
                        action TEXT NOT NULL,
                        before_json TEXT,
                        after_json TEXT
                    );
                    CREATE INDEX audit_log_by_object ON audit_log(object, time);
                    CREATE TABLE request_log (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        time REAL NOT NULL,
                        request_id TEXT NOT NULL,
                        user_id TEXT NOT NULL,
                        model TEXT NOT NULL,
                        version TEXT NOT NULL,
                        backend TEXT NOT NULL,
                        endpoint TEXT NOT NULL,
                        status INTEGER NOT NULL,
                        stream INTEGER NOT NULL,
                        latency_ms REAL NOT NULL,
                        ttft_ms REAL,
                        tokens_in INTEGER NOT NULL,
                        tokens_out INTEGER NOT NULL,
                        cost_usd REAL NOT NULL,
                        error TEXT
                    );
                    CREATE INDEX request_log_by_time ON request_log(time);
                    CREATE TABLE rollup_minute (
                        minute INTEGER NOT NULL,
                        model TEXT NOT NULL,
                        version TEXT NOT NULL,
                        backend TEXT NOT NULL,
                        variant TEXT NOT NULL DEFAULT '',
                        requests INTEGER NOT NULL,
                        errors INTEGER NOT NULL,
                        latency_sum_ms REAL NOT NULL,
                        latency_buckets_json TEXT NOT NULL,
                        ttft_count INTEGER NOT NULL,
                        ttft_sum_ms REAL NOT NULL,
                        ttft_buckets_json TEXT NOT NULL,
                        tokens_in INTEGER NOT NULL,
                        tokens_out INTEGER NOT NULL,
                        cost_usd REAL NOT NULL,
                        PRIMARY KEY (minute, model, version, backend, variant)
                    );
                    """)
        }
        migrator.registerMigration("v2-routing-health") { db in
            try db.execute(
                sql: """
                    ALTER TABLE backends ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
                    ALTER TABLE backends ADD COLUMN tags_json TEXT NOT NULL DEFAULT '[]';
                    ALTER TABLE users ADD COLUMN tags_json TEXT NOT NULL DEFAULT '[]';
                    ALTER TABLE users ADD COLUMN region TEXT;
                    ALTER TABLE providers ADD COLUMN health_check TEXT;
                    ALTER TABLE providers ADD COLUMN health_check_model TEXT;
                    ALTER TABLE models ADD COLUMN smart_ai_json TEXT;
                    ALTER TABLE models ADD COLUMN sticky TEXT NOT NULL DEFAULT 'user';
                    ALTER TABLE models ADD COLUMN hash_seed TEXT;
                    CREATE TABLE sessions (
                        user_id TEXT NOT NULL,
                        session_id TEXT NOT NULL,
                        model TEXT NOT NULL,
                        version TEXT NOT NULL,
                        backend TEXT NOT NULL,
                        expires_at REAL NOT NULL,
                        updated_at REAL NOT NULL,
                        PRIMARY KEY (user_id, session_id)
                    );
                    CREATE INDEX sessions_by_expiry ON sessions(expires_at);
                    """)
        }
        migrator.registerMigration("v3-releases") { db in
            try db.execute(
                sql: """
                    ALTER TABLE models ADD COLUMN previous_default TEXT;
                    ALTER TABLE models ADD COLUMN seed_rollout_json TEXT;
                    ALTER TABLE models ADD COLUMN release_strategy TEXT NOT NULL DEFAULT 'weight';
                    ALTER TABLE request_log ADD COLUMN trace_id TEXT;
                    ALTER TABLE users ADD COLUMN rate_limit_json TEXT;
                    ALTER TABLE users ADD COLUMN budget_json TEXT;
                    CREATE INDEX request_log_by_user_time ON request_log(user_id, time);
                    CREATE TABLE rollouts (
                        id TEXT PRIMARY KEY,
                        model TEXT NOT NULL,
                        canary TEXT NOT NULL,
                        state TEXT NOT NULL,
                        rollout_json TEXT NOT NULL,
                        created_at REAL NOT NULL,
                        updated_at REAL NOT NULL
                    );
                    CREATE INDEX rollouts_by_model ON rollouts(model, state);
                    CREATE TABLE rollout_events (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        rollout_id TEXT NOT NULL REFERENCES rollouts(id) ON DELETE CASCADE,
                        time REAL NOT NULL,
                        state TEXT NOT NULL,
                        step INTEGER NOT NULL,
                        canary_weight_bp INTEGER NOT NULL,
                        detail TEXT NOT NULL
                    );
                    CREATE INDEX rollout_events_by_rollout ON rollout_events(rollout_id, time);
                    CREATE INDEX audit_log_by_time ON audit_log(time);
                    """)
        }
        migrator.registerMigration("v4-experiments-providers") { db in
            // rollup_minute gains the experiment in its key and the sums of squares that make Welch's test exact;
            // experiment_rollup keeps the same sums per experiment and variant over its whole run, so results read a few rows.
            try db.execute(
                sql: """
                    ALTER TABLE providers ADD COLUMN api_version TEXT;
                    ALTER TABLE providers ADD COLUMN models_path TEXT;
                    ALTER TABLE providers ADD COLUMN speaks TEXT NOT NULL DEFAULT 'openai';
                    ALTER TABLE backends ADD COLUMN deployment TEXT;
                    CREATE TABLE provider_models (
                        provider TEXT PRIMARY KEY,
                        models_json TEXT NOT NULL,
                        fetched_at REAL NOT NULL,
                        error TEXT
                    );
                    CREATE TABLE experiments (
                        id TEXT PRIMARY KEY,
                        model TEXT NOT NULL,
                        status TEXT NOT NULL,
                        experiment_json TEXT NOT NULL,
                        created_at REAL NOT NULL,
                        updated_at REAL NOT NULL
                    );
                    CREATE INDEX experiments_by_model ON experiments(model, status);
                    CREATE TABLE experiment_feedback (
                        experiment TEXT NOT NULL,
                        request_id TEXT NOT NULL,
                        variant TEXT NOT NULL,
                        user_id TEXT,
                        score REAL NOT NULL,
                        time REAL NOT NULL,
                        PRIMARY KEY (experiment, request_id)
                    );
                    ALTER TABLE request_log ADD COLUMN experiment TEXT;
                    ALTER TABLE request_log ADD COLUMN variant TEXT;
                    CREATE INDEX request_log_by_request_id ON request_log(request_id);
                    CREATE TABLE rollup_minute_v4 (
                        minute INTEGER NOT NULL,
                        model TEXT NOT NULL,
                        version TEXT NOT NULL,
                        backend TEXT NOT NULL,
                        experiment TEXT NOT NULL DEFAULT '',
                        variant TEXT NOT NULL DEFAULT '',
                        requests INTEGER NOT NULL,
                        errors INTEGER NOT NULL,
                        latency_sum_ms REAL NOT NULL,
                        latency_square_sum_ms REAL NOT NULL DEFAULT 0,
                        latency_buckets_json TEXT NOT NULL,
                        ttft_count INTEGER NOT NULL,
                        ttft_sum_ms REAL NOT NULL,
                        ttft_buckets_json TEXT NOT NULL,
                        tokens_in INTEGER NOT NULL,
                        tokens_out INTEGER NOT NULL,
                        cost_usd REAL NOT NULL,
                        cost_square_sum REAL NOT NULL DEFAULT 0,
                        PRIMARY KEY (minute, model, version, backend, experiment, variant)
                    );
                    INSERT INTO rollup_minute_v4 (minute, model, version, backend, variant, requests, errors, latency_sum_ms,
                        latency_buckets_json, ttft_count, ttft_sum_ms, ttft_buckets_json, tokens_in, tokens_out, cost_usd)
                    SELECT minute, model, version, backend, variant, requests, errors, latency_sum_ms, latency_buckets_json,
                        ttft_count, ttft_sum_ms, ttft_buckets_json, tokens_in, tokens_out, cost_usd FROM rollup_minute;
                    DROP TABLE rollup_minute;
                    ALTER TABLE rollup_minute_v4 RENAME TO rollup_minute;
                    CREATE INDEX rollup_minute_by_experiment ON rollup_minute(experiment, variant) WHERE experiment != '';
                    CREATE TABLE experiment_rollup (
                        experiment TEXT NOT NULL,
                        variant TEXT NOT NULL,
                        requests INTEGER NOT NULL,
                        errors INTEGER NOT NULL,
                        latency_sum_ms REAL NOT NULL,
                        latency_square_sum_ms REAL NOT NULL,
                        latency_buckets_json TEXT NOT NULL,
                        ttft_count INTEGER NOT NULL,
                        ttft_sum_ms REAL NOT NULL,
                        ttft_buckets_json TEXT NOT NULL,
                        tokens_in INTEGER NOT NULL,
                        tokens_out INTEGER NOT NULL,
                        cost_usd REAL NOT NULL,
                        cost_square_sum REAL NOT NULL,
                        PRIMARY KEY (experiment, variant)
                    );
                    """)
        }
        migrator.registerMigration("v5-rollout-history") { db in
            // A rollout list reads these columns, never rollout_json (up to 500 evaluations each); rows from
            // before are filled from their JSON. A finished rollout never changes again, so its last update is its end.
            try db.execute(
                sql: """
                    ALTER TABLE rollouts ADD COLUMN stable TEXT NOT NULL DEFAULT '';
                    ALTER TABLE rollouts ADD COLUMN reason TEXT;
                    ALTER TABLE rollouts ADD COLUMN ended_at REAL;
                    ALTER TABLE rollouts ADD COLUMN current_step INTEGER NOT NULL DEFAULT 0;
                    ALTER TABLE rollouts ADD COLUMN step_count INTEGER NOT NULL DEFAULT 0;
                    ALTER TABLE rollouts ADD COLUMN canary_weight_bp INTEGER NOT NULL DEFAULT 0;
                    ALTER TABLE rollouts ADD COLUMN evaluation_count INTEGER NOT NULL DEFAULT 0;
                    UPDATE rollouts SET
                        stable = COALESCE(json_extract(rollout_json, '$.stable'), ''),
                        reason = json_extract(rollout_json, '$.reason'),
                        ended_at = CASE WHEN state IN ('promoted', 'aborted') THEN updated_at END,
                        current_step = COALESCE(json_extract(rollout_json, '$.currentStep'), 0),
                        step_count = COALESCE(json_array_length(rollout_json, '$.steps'), 0),
                        canary_weight_bp = COALESCE(json_extract(rollout_json, '$.canaryWeightBasisPoints'), 0),
                        evaluation_count = COALESCE(json_array_length(rollout_json, '$.evaluations'), 0);
                    CREATE INDEX rollouts_by_start ON rollouts(created_at, id);
                    CREATE INDEX rollouts_by_model_start ON rollouts(model, created_at, id);
                    CREATE INDEX rollouts_by_state_start ON rollouts(state, created_at, id);
                    """)
        }
        // Shadow traffic: a model's shadow, a rollout's shadow verdict, shadow copies in the request log
        // (kept out of the rollups, which are the served traffic), and the answer pairs that differ most.
        migrator.registerMigration("v6-shadow") { db in
            try db.execute(
                sql: """
                    ALTER TABLE models ADD COLUMN shadow_json TEXT;
                    ALTER TABLE rollouts ADD COLUMN shadow_verdict TEXT;
                    ALTER TABLE request_log ADD COLUMN shadow INTEGER NOT NULL DEFAULT 0;
                    ALTER TABLE request_log ADD COLUMN shadow_similarity REAL;
                    ALTER TABLE request_log ADD COLUMN shadow_exact INTEGER;
                    CREATE INDEX request_log_shadow ON request_log(model, version, time) WHERE shadow = 1;
                    CREATE TABLE shadow_examples (
                        id INTEGER PRIMARY KEY,
                        model TEXT NOT NULL,
                        version TEXT NOT NULL,
                        request_id TEXT NOT NULL,
                        time REAL NOT NULL,
                        similarity REAL NOT NULL,
                        primary_text TEXT NOT NULL,
                        shadow_text TEXT NOT NULL
                    );
                    CREATE INDEX shadow_examples_by_version ON shadow_examples(model, version, similarity);
                    """)
        }
        migrator.registerMigration("v7-responses-provider") { db in
            // NULL: the format's default (openai and azure serve the Responses API).
            try db.execute(sql: "ALTER TABLE providers ADD COLUMN responses INTEGER")
        }
        migrator.registerMigration("v8-cached-tokens") { db in
            // Parts of tokens_in: read from and written to the provider's prompt cache; NULL prices: as plain input.
            try db.execute(
                sql: """
                    ALTER TABLE request_log ADD COLUMN cached_input_tokens INTEGER NOT NULL DEFAULT 0;
                    ALTER TABLE request_log ADD COLUMN cache_write_tokens INTEGER NOT NULL DEFAULT 0;
                    ALTER TABLE providers ADD COLUMN cost_cached_input_per_mtok REAL;
                    ALTER TABLE providers ADD COLUMN cost_cache_write_per_mtok REAL;
                    """)
        }
        migrator.registerMigration("v9-cached-token-rollups") { db in
            // Experiment results and time series count cached tokens apart as well (from here on).
            try db.execute(
                sql: """
                    ALTER TABLE rollup_minute ADD COLUMN tokens_cached_in INTEGER NOT NULL DEFAULT 0;
                    ALTER TABLE rollup_minute ADD COLUMN tokens_cache_write INTEGER NOT NULL DEFAULT 0;
                    ALTER TABLE experiment_rollup ADD COLUMN tokens_cached_in INTEGER NOT NULL DEFAULT 0;
                    ALTER TABLE experiment_rollup ADD COLUMN tokens_cache_write INTEGER NOT NULL DEFAULT 0;
                    """)
        }
        return migrator
    }
}
