/// Converts a Berry API configuration (TOML: `[settings]`, `[users.*]`, `[providers.*]`,
/// `[models.*]` with `[[models.*.backends]]`) into a Switchyard seed, listing what it cannot carry.
package enum BerryImporter {
    package struct Result: Sendable {
        package var seed: String
        /// Keys or objects that were not imported, and why.
        package var unsupported: [String]
    }

    static let settingsKeys = [
        "health_check_interval_seconds", "request_timeout_seconds", "max_retries", "health_check_timeout_seconds",
        "circuit_breaker_failure_threshold", "circuit_breaker_timeout_seconds",
    ]
    static let smartAIKeys = ["initial_confidence", "min_confidence", "exploration_ratio", "decay_half_life_seconds"]
    static let strategies = Set(BalancingStrategy.allCases.map(\.rawValue) + ["latency_first"])

    package static func convert(_ text: String) throws(ConfigurationError) -> Result {
        let root = try TOMLNode.parse(text)
        var unsupported: [String] = []
        var writer = SeedWriter(
            header:
                "Imported from a Berry API configuration by `switchyard import berry`.\nCheck it with `switchyard validate`; literal keys and tokens are best moved to env: references."
        )

        func table(_ node: TOMLNode?) -> [String: TOMLNode] {
            if case .table(let values)? = node { return values }
            return [:]
        }
        func value(_ node: TOMLNode?) -> String? {
            switch node {
            case .string(let text)?: return SeedWriter.string(text)
            case .integer(let number)?: return String(number)
            case .double(let number)?: return SeedWriter.number(number)
            case .bool(let flag)?: return flag ? "true" : "false"
            default: return nil
            }
        }
        func strings(_ node: TOMLNode?) -> [String]? {
            guard case .array(let items)? = node else { return nil }
            return items.compactMap { if case .string(let text) = $0 { return text } else { return nil } }
        }

        let settings = table(root["settings"])
        if !settings.isEmpty {
            writer.table(["settings"])
            for (key, node) in settings.sorted(by: { $0.key < $1.key }) {
                if settingsKeys.contains(key), let written = value(node) {
                    writer.line(key, written)
                } else if key != "smart_ai" {
                    unsupported.append("settings.\(key)")
                }
            }
            let smartAI = table(settings["smart_ai"])
            if !smartAI.isEmpty {
                writer.table(["settings", "smart_ai"])
                for (key, node) in smartAI.sorted(by: { $0.key < $1.key }) {
                    if smartAIKeys.contains(key), let written = value(node) {
                        writer.line(key, written)
                    } else {
                        unsupported.append("settings.smart_ai.\(key)")
                    }
                }
            }
        }

        let providers = table(root["providers"])
        var importedProviders: Set<String> = []
        for (id, node) in providers.sorted(by: { $0.key < $1.key }) {
            let provider = table(node)
            if case .bool(false)? = provider["enabled"] { unsupported.append("providers.\(id) (disabled: imported disabled)") }
            guard case .string(let baseURL)? = provider["base_url"] else {
                unsupported.append("providers.\(id) (no base_url: skipped)")
                continue
            }
            if case .string(let type)? = provider["backend_type"], type != "openai" {
                unsupported.append("providers.\(id).backend_type = \(type) (imported as an OpenAI-compatible provider)")
            }
            importedProviders.insert(id)
            writer.table(["providers", id])
            writer.line("format", SeedWriter.string("openai"))
            writer.line("base_url", SeedWriter.string(baseURL))
            if let key = value(provider["api_key"]) { writer.line("api_key", key) }
            if let timeout = value(provider["timeout_seconds"]) { writer.line("timeout_seconds", timeout) }
            if case .table(let headers)? = provider["headers"] {
                let pairs = headers.sorted(by: { $0.key < $1.key }).compactMap { key, node in value(node).map { "\(SeedWriter.key(key)) = \($0)" } }
                writer.line("headers", "{ " + pairs.joined(separator: ", ") + " }")
            }
            if case .bool(false)? = provider["enabled"] { writer.line("enabled", "false") }
            for key in provider.keys.sorted()
            where !["base_url", "api_key", "timeout_seconds", "headers", "enabled", "name", "backend_type"].contains(key) {
                unsupported.append("providers.\(id).\(key)")
            }
        }

        var importedModels: Set<String> = []
        for (key, node) in table(root["models"]).sorted(by: { $0.key < $1.key }) {
            let model = table(node)
            var name = key
            if case .string(let publicName)? = model["name"] { name = publicName }
            guard case .array(let backendNodes)? = model["backends"] else {
                unsupported.append("models.\(key) (no backends: skipped)")
                continue
            }
            var backends: [String] = []
            for (index, backendNode) in backendNodes.enumerated() {
                let backend = table(backendNode)
                guard case .string(let provider)? = backend["provider"], case .string(let upstream)? = backend["model"] else {
                    unsupported.append("models.\(key).backends[\(index)] (no provider or model: skipped)")
                    continue
                }
                if case .bool(false)? = backend["enabled"] {
                    unsupported.append("models.\(key).backends[\(index)] (disabled: skipped)")
                    continue
                }
                guard importedProviders.contains(provider) else {
                    unsupported.append("models.\(key).backends[\(index)] (provider \(provider) not imported: skipped)")
                    continue
                }
                var fields = ["provider = \(SeedWriter.string(provider))", "model = \(SeedWriter.string(upstream))"]
                if let weight = value(backend["weight"]) { fields.append("weight = \(weight)") }
                if let priority = value(backend["priority"]) { fields.append("priority = \(priority)") }
                if let tags = strings(backend["tags"]), !tags.isEmpty { fields.append("tags = \(SeedWriter.strings(tags))") }
                for extra in backend.keys.sorted() where !["provider", "model", "weight", "priority", "tags", "enabled"].contains(extra) {
                    unsupported.append("models.\(key).backends[\(index)].\(extra)")
                }
                backends.append("  { " + fields.joined(separator: ", ") + " },")
            }
            guard !backends.isEmpty else {
                unsupported.append("models.\(key) (no usable backend: skipped)")
                continue
            }
            importedModels.insert(name)
            writer.table(["models", name])
            if case .string(let strategy)? = model["strategy"] {
                if strategies.contains(strategy) {
                    writer.line("strategy", SeedWriter.string(strategy))
                } else {
                    unsupported.append("models.\(key).strategy = \(strategy) (using weighted_random)")
                }
            }
            if case .bool(false)? = model["enabled"] { writer.line("enabled", "false") }
            writer.raw("backends = [\n" + backends.joined(separator: "\n") + "\n]\n")
            for extra in model.keys.sorted() where !["name", "strategy", "enabled", "backends"].contains(extra) {
                unsupported.append("models.\(key).\(extra)")
            }
        }

        for (id, node) in table(root["users"]).sorted(by: { $0.key < $1.key }) {
            let user = table(node)
            guard let token = value(user["token"]) else {
                unsupported.append("users.\(id) (no token: skipped)")
                continue
            }
            writer.table(["users", id])
            if let name = value(user["name"]) { writer.line("name", name) }
            writer.line("token", token)
            if let allowed = strings(user["allowed_models"]) {
                let known = allowed.filter(importedModels.contains)
                for model in allowed where !importedModels.contains(model) {
                    unsupported.append("users.\(id).allowed_models: \(model) (no such model)")
                }
                if !known.isEmpty || allowed.isEmpty { writer.line("allowed_models", SeedWriter.strings(known)) }
            }
            if let tags = strings(user["tags"]), !tags.isEmpty { writer.line("tags", SeedWriter.strings(tags)) }
            if case .bool(false)? = user["enabled"] { writer.line("enabled", "false") }
            let limits = table(user["rate_limit"])
            var limitFields: [String] = []
            for key in ["requests_per_minute", "requests_per_hour", "tokens_per_minute"] {
                if let limit = value(limits[key]) { limitFields.append("\(key) = \(limit)") }
            }
            for key in limits.keys.sorted() where !["requests_per_minute", "requests_per_hour", "tokens_per_minute"].contains(key) {
                unsupported.append("users.\(id).rate_limit.\(key)")
            }
            if !limitFields.isEmpty { writer.line("rate_limit", "{ " + limitFields.joined(separator: ", ") + " }") }
            for extra in user.keys.sorted() where !["name", "token", "allowed_models", "tags", "enabled", "rate_limit"].contains(extra) {
                unsupported.append("users.\(id).\(extra)")
            }
        }
        for section in root.keys.sorted() where !["settings", "providers", "models", "users"].contains(section) {
            unsupported.append(section)
        }
        return Result(seed: writer.text, unsupported: unsupported)
    }
}
