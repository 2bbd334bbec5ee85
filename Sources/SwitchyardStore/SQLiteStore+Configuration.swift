import Foundation
import GRDB
import SwitchyardCore

extension SQLiteStore: ConfigurationRepository {
    package func loadConfiguration() async throws -> ConfigurationSpec {
        try await pool.read { db in try Self.readConfiguration(db) }
    }

    package func applySeed(_ seed: ConfigurationSpec) async throws -> SeedApplyReport {
        try await pool.write { db in
            let stored = try Self.readConfiguration(db)
            var applied: [String: String] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT object, fingerprint FROM seed_state") {
                applied[row["object"]] = row["fingerprint"]
            }
            let plan = SeedPlan(seed: seed, stored: stored, appliedFingerprints: applied)
            let now = Self.now()
            for change in plan.changes {
                try Self.write(change.after, db: db, now: now)
                try Self.audit(
                    db, time: now, actor: "seed", source: "seed", object: change.key, action: change.action.rawValue,
                    before: change.before?.auditJSON, after: change.after.auditJSON)
            }
            try db.execute(sql: "DELETE FROM seed_state")
            for (object, fingerprint) in plan.appliedFingerprints {
                try db.execute(
                    sql: "INSERT INTO seed_state (object, fingerprint, applied_at) VALUES (?, ?, ?)",
                    arguments: [object, fingerprint, now])
            }
            return plan.report
        }
    }

    static func audit(
        _ db: Database, time: Double, actor: String, source: String, object: String, action: String, before: String?,
        after: String?
    ) throws {
        try db.execute(
            sql: """
                INSERT INTO audit_log (time, actor, source, object, action, before_json, after_json)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                """,
            arguments: [time, actor, source, object, action, before, after])
    }

    // MARK: Reading

    static func readConfiguration(_ db: Database) throws -> ConfigurationSpec {
        var configuration = ConfigurationSpec()
        if let json = try String.fetchOne(db, sql: "SELECT value_json FROM settings WHERE key = 'gateway'") {
            configuration.settings = try decode(GatewaySettings.self, json)
        }
        configuration.providers = try Row.fetchAll(db, sql: "SELECT * FROM providers ORDER BY id").map { row in
            ProviderSpec(
                id: row["id"], format: ProviderFormat(rawValue: row["format"]) ?? .openai, baseURL: row["base_url"],
                apiKey: (row["api_key"] as String?).map(SecretReference.init(parsing:)),
                headers: try decode([String: SecretReference].self, row["headers_json"]), region: row["region"],
                timeoutSeconds: row["timeout_seconds"], costInputPerMillionTokens: row["cost_input_per_mtok"],
                costOutputPerMillionTokens: row["cost_output_per_mtok"],
                healthCheck: (row["health_check"] as String?).flatMap(HealthCheckMode.init(rawValue:)),
                healthCheckModel: row["health_check_model"], enabled: row["enabled"], apiVersion: row["api_version"],
                modelsPath: row["models_path"], speaks: (row["speaks"] as String?).flatMap(MockWireFormat.init(rawValue:)) ?? .openai,
                responses: row["responses"], costCachedInputPerMillionTokens: row["cost_cached_input_per_mtok"],
                costCacheWritePerMillionTokens: row["cost_cache_write_per_mtok"])
        }
        var backendsByVersion: [String: [BackendSpec]] = [:]
        for row in try Row.fetchAll(db, sql: "SELECT * FROM backends ORDER BY model, version, position") {
            let key = "\(row["model"] as String)\u{0}\(row["version"] as String)"
            let mock = try (row["mock_json"] as String?).map { try decode(MockSettings.self, $0) }
            backendsByVersion[key, default: []].append(
                BackendSpec(
                    provider: row["provider"], model: row["upstream_model"], weight: row["weight"], priority: row["priority"],
                    tags: try decode([String].self, row["tags_json"]), mock: mock, deployment: row["deployment"]))
        }
        var versionsByModel: [String: [VersionSpec]] = [:]
        for row in try Row.fetchAll(db, sql: "SELECT * FROM versions ORDER BY model, position") {
            let model: String = row["model"]
            let name: String = row["name"]
            versionsByModel[model, default: []].append(
                VersionSpec(
                    name: name, weightBasisPoints: row["weight_bp"], isDefault: row["is_default"], isActive: row["is_active"],
                    params: try decode([String: JSONValue].self, row["params_json"]),
                    backends: backendsByVersion["\(model)\u{0}\(name)"] ?? []))
        }
        configuration.models = try Row.fetchAll(db, sql: "SELECT * FROM models ORDER BY name").map { row in
            let name: String = row["name"]
            var model = ModelSpec(
                name: name, strategy: BalancingStrategy(rawValue: row["strategy"]) ?? .weightedRandom,
                versions: versionsByModel[name] ?? [], enabled: row["enabled"],
                smartAI: try (row["smart_ai_json"] as String?).map { try decode(SmartAISettings.self, $0) },
                sticky: StickyMode(rawValue: row["sticky"]) ?? .user, hashSeed: row["hash_seed"])
            model.previousDefault = row["previous_default"]
            model.seedRollout = try (row["seed_rollout_json"] as String?).map { try decode(RolloutRequest.self, $0) }
            model.releaseStrategy = ReleaseStrategy(rawValue: row["release_strategy"]) ?? .weight
            model.shadow = try (row["shadow_json"] as String?).map { try decode(ShadowSpec.self, $0) }
            return model
        }
        configuration.users = try Row.fetchAll(db, sql: "SELECT * FROM users ORDER BY id").compactMap { row in
            guard let digest = TokenDigest(hex: row["token_hash"]) else { return nil }
            var user = UserSpec(
                id: row["id"], name: row["name"], tokenDigest: digest,
                allowedModels: try decode([String].self, row["allowed_models_json"]), tags: try decode([String].self, row["tags_json"]),
                region: row["region"], enabled: row["enabled"])
            user.rateLimit = try (row["rate_limit_json"] as String?).map { try decode(RateLimitSpec.self, $0) }
            user.budget = try (row["budget_json"] as String?).map { try decode(BudgetSpec.self, $0) }
            return user
        }
        return configuration
    }

    // MARK: Writing

    static func write(_ object: ConfigurationObject, db: Database, now: Double) throws {
        switch object {
        case .settings(let settings):
            try db.execute(
                sql: """
                    INSERT INTO settings (key, value_json, updated_at) VALUES ('gateway', ?, ?)
                    ON CONFLICT(key) DO UPDATE SET value_json = excluded.value_json, updated_at = excluded.updated_at
                    """,
                arguments: [try encode(settings), now])
        case .provider(let provider):
            try db.execute(
                sql: """
                    INSERT INTO providers (id, format, base_url, api_key, headers_json, region, timeout_seconds,
                        cost_input_per_mtok, cost_output_per_mtok, health_check, health_check_model, enabled, created_at, updated_at,
                        api_version, models_path, speaks, responses, cost_cached_input_per_mtok, cost_cache_write_per_mtok)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT(id) DO UPDATE SET format = excluded.format, base_url = excluded.base_url,
                        api_key = excluded.api_key, headers_json = excluded.headers_json, region = excluded.region,
                        timeout_seconds = excluded.timeout_seconds, cost_input_per_mtok = excluded.cost_input_per_mtok,
                        cost_output_per_mtok = excluded.cost_output_per_mtok, health_check = excluded.health_check,
                        health_check_model = excluded.health_check_model, enabled = excluded.enabled,
                        updated_at = excluded.updated_at, api_version = excluded.api_version, models_path = excluded.models_path,
                        speaks = excluded.speaks, responses = excluded.responses,
                        cost_cached_input_per_mtok = excluded.cost_cached_input_per_mtok,
                        cost_cache_write_per_mtok = excluded.cost_cache_write_per_mtok
                    """,
                arguments: [
                    provider.id, provider.format.rawValue, provider.baseURL, provider.apiKey?.written,
                    try encode(provider.headers), provider.region, provider.timeoutSeconds, provider.costInputPerMillionTokens,
                    provider.costOutputPerMillionTokens, provider.healthCheck.rawValue, provider.healthCheckModel, provider.enabled,
                    now, now, provider.apiVersion, provider.modelsPath, provider.speaks.rawValue, provider.responses,
                    provider.costCachedInputPerMillionTokens, provider.costCacheWritePerMillionTokens,
                ])
        case .model(let model):
            try writeModel(model, db: db, now: now)
        case .user(let user):
            try db.execute(
                sql: """
                    INSERT INTO users (id, name, token_hash, allowed_models_json, tags_json, region, rate_limit_json, budget_json,
                        enabled, created_at, updated_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT(id) DO UPDATE SET name = excluded.name, token_hash = excluded.token_hash,
                        allowed_models_json = excluded.allowed_models_json, tags_json = excluded.tags_json,
                        region = excluded.region, rate_limit_json = excluded.rate_limit_json, budget_json = excluded.budget_json,
                        enabled = excluded.enabled,
                        updated_at = excluded.updated_at
                    """,
                arguments: [
                    user.id, user.name, user.tokenDigest.hex, try encode(user.allowedModels), try encode(user.tags), user.region,
                    try user.rateLimit.map(encode), try user.budget.map(encode), user.enabled, now, now,
                ])
        }
    }

    private static func writeModel(_ model: ModelSpec, db: Database, now: Double) throws {
        try db.execute(
            sql: """
                INSERT INTO models (name, strategy, smart_ai_json, sticky, hash_seed, previous_default, seed_rollout_json,
                    release_strategy, shadow_json, enabled, created_at, updated_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT(name) DO UPDATE SET strategy = excluded.strategy, smart_ai_json = excluded.smart_ai_json,
                    sticky = excluded.sticky, hash_seed = excluded.hash_seed, previous_default = excluded.previous_default,
                    seed_rollout_json = excluded.seed_rollout_json, release_strategy = excluded.release_strategy,
                    shadow_json = excluded.shadow_json, enabled = excluded.enabled, updated_at = excluded.updated_at
                """,
            arguments: [
                model.name, model.strategy.rawValue, try model.smartAI.map(encode), model.sticky.rawValue, model.hashSeed,
                model.previousDefault, try model.seedRollout.map(encode), model.releaseStrategy.rawValue, try model.shadow.map(encode),
                model.enabled, now, now,
            ])
        let names = model.versions.map(\.name)
        let placeholders = Array(repeating: "?", count: names.count).joined(separator: ", ")
        try db.execute(
            sql: "DELETE FROM versions WHERE model = ? AND name NOT IN (\(placeholders))",
            arguments: StatementArguments([model.name] + names))
        for (position, version) in model.versions.enumerated() {
            try db.execute(
                sql: """
                    INSERT INTO versions (model, name, position, weight_bp, is_default, is_active, params_json, created_at, updated_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT(model, name) DO UPDATE SET position = excluded.position, weight_bp = excluded.weight_bp,
                        is_default = excluded.is_default, is_active = excluded.is_active, params_json = excluded.params_json,
                        updated_at = excluded.updated_at
                    """,
                arguments: [
                    model.name, version.name, position, version.weightBasisPoints, version.isDefault, version.isActive,
                    try encode(version.params), now, now,
                ])
            try db.execute(sql: "DELETE FROM backends WHERE model = ? AND version = ?", arguments: [model.name, version.name])
            for (index, backend) in version.backends.enumerated() {
                try db.execute(
                    sql: """
                        INSERT INTO backends (model, version, position, provider, upstream_model, weight, priority, tags_json, mock_json,
                            deployment)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [
                        model.name, version.name, index, backend.provider, backend.model, backend.weight, backend.priority,
                        try encode(backend.tags), try backend.mock.map(encode), backend.deployment,
                    ])
            }
        }
    }

    // MARK: JSON columns

    static func encode<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    static func decode<T: Decodable>(_ type: T.Type, _ json: String) throws -> T {
        try JSONDecoder().decode(type, from: Data(json.utf8))
    }
}
