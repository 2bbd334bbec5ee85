import Logging
import PostgresNIO
import SwitchyardCore

extension PostgresStore: ConfigurationRepository {
    /// `pg_advisory_xact_lock` key that serialises seed applications of instances starting together.
    static let seedLockKey: Int64 = 0x5357_5944_0000_0002

    /// Read in one repeatable-read transaction: a change committed meanwhile is wholly in or wholly out.
    package func loadConfiguration() async throws -> ConfigurationSpec {
        try await transaction { [self] connection in
            try await connection.run("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY", logger: logger)
            return try await Self.readConfiguration(connection, logger: logger)
        }
    }

    package func applySeed(_ seed: ConfigurationSpec) async throws -> SeedApplyReport {
        try await transaction { [self] connection in
            try await connection.run("SELECT pg_advisory_xact_lock(\(Self.seedLockKey))", logger: logger)
            let stored = try await Self.readConfiguration(connection, logger: logger)
            var applied: [String: String] = [:]
            for row in try await connection.rows("SELECT object, fingerprint FROM seed_state", logger: logger) {
                applied[try row.get("object")] = try row.get("fingerprint")
            }
            let plan = SeedPlan(seed: seed, stored: stored, appliedFingerprints: applied)
            let now = Self.now()
            for change in plan.changes {
                try await Self.write(change.after, connection: connection, now: now, logger: logger)
                try await Self.audit(
                    connection,
                    AuditEntry(
                        time: now, actor: "seed", source: .seed, object: change.key, action: change.action.rawValue,
                        before: change.before?.auditJSON, after: change.after.auditJSON), logger: logger)
            }
            if plan.appliedFingerprints != applied {
                try await connection.run("DELETE FROM seed_state", logger: logger)
                for (object, fingerprint) in plan.appliedFingerprints {
                    try await connection.run(
                        "INSERT INTO seed_state (object, fingerprint, applied_at) VALUES (\(object), \(fingerprint), \(now))", logger: logger)
                }
            }
            if !plan.changes.isEmpty { try await announceChange(on: connection) }
            return plan.report
        }
    }

    static func audit(_ connection: PostgresConnection, _ entry: AuditEntry, logger: Logger) async throws {
        try await connection.run(
            """
            INSERT INTO audit_log (time, actor, source, object, action, before_json, after_json)
            VALUES (\(entry.time), \(entry.actor), \(entry.source.rawValue), \(entry.object), \(entry.action), \(entry.before), \(entry.after))
            """, logger: logger)
    }

    // MARK: Reading

    static func readConfiguration(_ connection: PostgresConnection, logger: Logger) async throws -> ConfigurationSpec {
        var configuration = ConfigurationSpec()
        if let row = try await connection.rows("SELECT value_json FROM settings WHERE key = 'gateway'", logger: logger).first {
            configuration.settings = try decode(GatewaySettings.self, try row.get("value_json"))
        }
        configuration.providers = try await connection.rows("SELECT * FROM providers ORDER BY id", logger: logger).map { row in
            ProviderSpec(
                id: try row.get("id"), format: ProviderFormat(rawValue: try row.get("format")) ?? .openai, baseURL: try row.get("base_url"),
                apiKey: try row.get("api_key", as: String?.self).map(SecretReference.init(parsing:)),
                headers: try decode([String: SecretReference].self, try row.get("headers_json")), region: try row.get("region"),
                timeoutSeconds: try row.get("timeout_seconds"), costInputPerMillionTokens: try row.get("cost_input_per_mtok"),
                costOutputPerMillionTokens: try row.get("cost_output_per_mtok"),
                healthCheck: try row.get("health_check", as: String?.self).flatMap(HealthCheckMode.init(rawValue:)),
                healthCheckModel: try row.get("health_check_model"), enabled: try row.get("enabled"), apiVersion: try row.get("api_version"),
                modelsPath: try row.get("models_path"),
                speaks: try row.get("speaks", as: String?.self).flatMap(MockWireFormat.init(rawValue:)) ?? .openai,
                responses: try row.get("responses"), costCachedInputPerMillionTokens: try row.get("cost_cached_input_per_mtok"),
                costCacheWritePerMillionTokens: try row.get("cost_cache_write_per_mtok"))
        }
        var backendsByVersion: [String: [BackendSpec]] = [:]
        for row in try await connection.rows("SELECT * FROM backends ORDER BY model, version, position", logger: logger) {
            let key = "\(try row.get("model", as: String.self))\u{0}\(try row.get("version", as: String.self))"
            let mock = try row.get("mock_json", as: String?.self).map { try decode(MockSettings.self, $0) }
            backendsByVersion[key, default: []].append(
                BackendSpec(
                    provider: try row.get("provider"), model: try row.get("upstream_model"), weight: try row.get("weight"),
                    priority: try row.get("priority"), tags: try decode([String].self, try row.get("tags_json")), mock: mock,
                    deployment: try row.get("deployment")))
        }
        var versionsByModel: [String: [VersionSpec]] = [:]
        for row in try await connection.rows("SELECT * FROM versions ORDER BY model, position", logger: logger) {
            let model: String = try row.get("model")
            let name: String = try row.get("name")
            versionsByModel[model, default: []].append(
                VersionSpec(
                    name: name, weightBasisPoints: try row.get("weight_bp"), isDefault: try row.get("is_default"),
                    isActive: try row.get("is_active"), params: try decode([String: JSONValue].self, try row.get("params_json")),
                    backends: backendsByVersion["\(model)\u{0}\(name)"] ?? []))
        }
        configuration.models = try await connection.rows("SELECT * FROM models ORDER BY name", logger: logger).map { row in
            let name: String = try row.get("name")
            var model = ModelSpec(
                name: name, strategy: BalancingStrategy(rawValue: try row.get("strategy")) ?? .weightedRandom,
                versions: versionsByModel[name] ?? [], enabled: try row.get("enabled"),
                smartAI: try row.get("smart_ai_json", as: String?.self).map { try decode(SmartAISettings.self, $0) },
                sticky: StickyMode(rawValue: try row.get("sticky")) ?? .user, hashSeed: try row.get("hash_seed"))
            model.previousDefault = try row.get("previous_default")
            model.seedRollout = try row.get("seed_rollout_json", as: String?.self).map { try decode(RolloutRequest.self, $0) }
            model.releaseStrategy = ReleaseStrategy(rawValue: try row.get("release_strategy")) ?? .weight
            model.shadow = try row.get("shadow_json", as: String?.self).map { try decode(ShadowSpec.self, $0) }
            return model
        }
        configuration.users = try await connection.rows("SELECT * FROM users ORDER BY id", logger: logger).compactMap { row in
            guard let digest = TokenDigest(hex: try row.get("token_hash")) else { return nil }
            var user = UserSpec(
                id: try row.get("id"), name: try row.get("name"), tokenDigest: digest,
                allowedModels: try decode([String].self, try row.get("allowed_models_json")),
                tags: try decode([String].self, try row.get("tags_json")), region: try row.get("region"), enabled: try row.get("enabled"))
            user.rateLimit = try row.get("rate_limit_json", as: String?.self).map { try decode(RateLimitSpec.self, $0) }
            user.budget = try row.get("budget_json", as: String?.self).map { try decode(BudgetSpec.self, $0) }
            return user
        }
        return configuration
    }

    // MARK: Writing

    static func write(_ object: ConfigurationObject, connection: PostgresConnection, now: Double, logger: Logger) async throws {
        switch object {
        case .settings(let settings):
            try await connection.run(
                """
                INSERT INTO settings (key, value_json, updated_at) VALUES ('gateway', \(try encode(settings)), \(now))
                ON CONFLICT (key) DO UPDATE SET value_json = excluded.value_json, updated_at = excluded.updated_at
                """, logger: logger)
        case .provider(let provider):
            try await connection.run(
                """
                INSERT INTO providers (id, format, base_url, api_key, headers_json, region, timeout_seconds,
                    cost_input_per_mtok, cost_output_per_mtok, health_check, health_check_model, enabled, created_at, updated_at,
                    api_version, models_path, speaks, responses, cost_cached_input_per_mtok, cost_cache_write_per_mtok)
                VALUES (\(provider.id), \(provider.format.rawValue), \(provider.baseURL), \(provider.apiKey?.written),
                    \(try encode(provider.headers)), \(provider.region), \(provider.timeoutSeconds), \(provider.costInputPerMillionTokens),
                    \(provider.costOutputPerMillionTokens), \(provider.healthCheck.rawValue), \(provider.healthCheckModel), \(provider.enabled),
                    \(now), \(now), \(provider.apiVersion), \(provider.modelsPath), \(provider.speaks.rawValue), \(provider.responses),
                    \(provider.costCachedInputPerMillionTokens), \(provider.costCacheWritePerMillionTokens))
                ON CONFLICT (id) DO UPDATE SET format = excluded.format, base_url = excluded.base_url,
                    api_key = excluded.api_key, headers_json = excluded.headers_json, region = excluded.region,
                    timeout_seconds = excluded.timeout_seconds, cost_input_per_mtok = excluded.cost_input_per_mtok,
                    cost_output_per_mtok = excluded.cost_output_per_mtok, health_check = excluded.health_check,
                    health_check_model = excluded.health_check_model, enabled = excluded.enabled,
                    updated_at = excluded.updated_at, api_version = excluded.api_version, models_path = excluded.models_path,
                    speaks = excluded.speaks, responses = excluded.responses,
                    cost_cached_input_per_mtok = excluded.cost_cached_input_per_mtok,
                    cost_cache_write_per_mtok = excluded.cost_cache_write_per_mtok
                """, logger: logger)
        case .model(let model):
            try await writeModel(model, connection: connection, now: now, logger: logger)
        case .user(let user):
            try await connection.run(
                """
                INSERT INTO users (id, name, token_hash, allowed_models_json, tags_json, region, rate_limit_json, budget_json,
                    enabled, created_at, updated_at)
                VALUES (\(user.id), \(user.name), \(user.tokenDigest.hex), \(try encode(user.allowedModels)), \(try encode(user.tags)),
                    \(user.region), \(try user.rateLimit.map(encode)), \(try user.budget.map(encode)), \(user.enabled), \(now), \(now))
                ON CONFLICT (id) DO UPDATE SET name = excluded.name, token_hash = excluded.token_hash,
                    allowed_models_json = excluded.allowed_models_json, tags_json = excluded.tags_json,
                    region = excluded.region, rate_limit_json = excluded.rate_limit_json, budget_json = excluded.budget_json,
                    enabled = excluded.enabled, updated_at = excluded.updated_at
                """, logger: logger)
        }
    }

    private static func writeModel(_ model: ModelSpec, connection: PostgresConnection, now: Double, logger: Logger) async throws {
        try await connection.run(
            """
            INSERT INTO models (name, strategy, smart_ai_json, sticky, hash_seed, previous_default, seed_rollout_json,
                release_strategy, shadow_json, enabled, created_at, updated_at)
            VALUES (\(model.name), \(model.strategy.rawValue), \(try model.smartAI.map(encode)), \(model.sticky.rawValue), \(model.hashSeed),
                \(model.previousDefault), \(try model.seedRollout.map(encode)), \(model.releaseStrategy.rawValue),
                \(try model.shadow.map(encode)), \(model.enabled), \(now), \(now))
            ON CONFLICT (name) DO UPDATE SET strategy = excluded.strategy, smart_ai_json = excluded.smart_ai_json,
                sticky = excluded.sticky, hash_seed = excluded.hash_seed, previous_default = excluded.previous_default,
                seed_rollout_json = excluded.seed_rollout_json, release_strategy = excluded.release_strategy,
                shadow_json = excluded.shadow_json, enabled = excluded.enabled, updated_at = excluded.updated_at
            """, logger: logger)
        try await connection.run(
            "DELETE FROM versions WHERE model = \(model.name) AND NOT (name = ANY(\(model.versions.map(\.name))))", logger: logger)
        for (position, version) in model.versions.enumerated() {
            try await connection.run(
                """
                INSERT INTO versions (model, name, position, weight_bp, is_default, is_active, params_json, created_at, updated_at)
                VALUES (\(model.name), \(version.name), \(position), \(version.weightBasisPoints), \(version.isDefault), \(version.isActive),
                    \(try encode(version.params)), \(now), \(now))
                ON CONFLICT (model, name) DO UPDATE SET position = excluded.position, weight_bp = excluded.weight_bp,
                    is_default = excluded.is_default, is_active = excluded.is_active, params_json = excluded.params_json,
                    updated_at = excluded.updated_at
                """, logger: logger)
            try await connection.run("DELETE FROM backends WHERE model = \(model.name) AND version = \(version.name)", logger: logger)
            for (index, backend) in version.backends.enumerated() {
                try await connection.run(
                    """
                    INSERT INTO backends (model, version, position, provider, upstream_model, weight, priority, tags_json, mock_json, deployment)
                    VALUES (\(model.name), \(version.name), \(index), \(backend.provider), \(backend.model), \(backend.weight), \(backend.priority),
                        \(try encode(backend.tags)), \(try backend.mock.map(encode)), \(backend.deployment))
                    """, logger: logger)
            }
        }
    }

    /// Deletes a provider, model (its versions and backends cascade) or user by key.
    static func delete(key: String, connection: PostgresConnection, logger: Logger) async throws {
        let parts = key.split(separator: ":", maxSplits: 1).map(String.init)
        guard parts.count == 2 else { return }
        switch parts[0] {
        case "provider": try await connection.run("DELETE FROM providers WHERE id = \(parts[1])", logger: logger)
        case "model": try await connection.run("DELETE FROM models WHERE name = \(parts[1])", logger: logger)
        case "user": try await connection.run("DELETE FROM users WHERE id = \(parts[1])", logger: logger)
        default: break
        }
    }
}
