/// Reads one configuration object from an admin API body with the seed's own readers, so the API
/// and the file accept the same keys, types and ranges. Problems carry their key path.
package enum ObjectReader {
    package static func provider(
        id: String, body: [String: JSONValue], environment: [String: String]
    ) throws(ConfigurationErrors) -> ProviderSpec {
        try read(body) { table in ProviderSpec.read(id: id, from: table, environment: environment) }
    }

    /// A model whose backends may name the given providers.
    package static func model(
        name: String, body: [String: JSONValue], providers: [ProviderSpec], settings: GatewaySettings
    ) throws(ConfigurationErrors) -> ModelSpec {
        if body["rollout"] != nil {
            throw ConfigurationErrors([
                ConfigurationError(key: "rollout", reason: "start rollouts with POST /api/models/{name}/rollouts; the seed's rollout is for the file")
            ])
        }
        let byID = Dictionary(uniqueKeysWithValues: providers.map { ($0.id, $0) })
        return try read(body) { table in
            ModelSpec.read(name: name, from: table, providers: byID, declaredProviders: Set(byID.keys), defaultSmartAI: settings.smartAI)
        }
    }

    /// A user and its clear token; the token comes from the caller (generated), never from the body.
    package static func user(
        id: String, body: [String: JSONValue], token: String, knownModels: Set<String>
    ) throws(ConfigurationErrors) -> UserSpec {
        if body["token"] != nil {
            throw ConfigurationErrors([
                ConfigurationError(key: "token", reason: "tokens are generated; rotate with POST /api/users/{id}/rotate-token")
            ])
        }
        var values = body
        values["token"] = .string(token)
        let user = try read(values) { table in UserSpec.read(id: id, from: table, environment: [:])?.0 }
        if let unknown = user.allowedModels.first(where: { !knownModels.contains($0) }) {
            throw ConfigurationErrors([ConfigurationError(key: "allowed_models", reason: "unknown model \"\(unknown)\"")])
        }
        return user
    }

    /// Settings: the stored ones with the body's keys laid over them.
    package static func settings(body: [String: JSONValue], over current: GatewaySettings) throws(ConfigurationErrors) -> GatewaySettings {
        var merged = SeedExport.settingsTable(current)
        if case .table(var smartAI)? = merged["smart_ai"], case .object(let given)? = body["smart_ai"] {
            for (key, value) in given { smartAI[key] = TOMLNode(json: value) }
            merged["smart_ai"] = .table(smartAI)
        }
        for (key, value) in body {
            if key == "smart_ai", case .object = value { continue }
            merged[key] = value == .null ? nil : TOMLNode(json: value)
        }
        let errors = ErrorCollector()
        let settings = GatewaySettings.read(from: TableReader(path: "", values: merged, errors: errors))
        guard errors.errors.isEmpty else { throw ConfigurationErrors(errors.errors) }
        return settings
    }

    /// The seed table of a stored user with the body's keys laid over it (`null` removes a key).
    package static func userUpdate(
        _ stored: UserSpec, body: [String: JSONValue], knownModels: Set<String>
    ) throws(ConfigurationErrors) -> UserSpec {
        if body["token"] != nil || body["id"] != nil {
            let key = body["token"] != nil ? "token" : "id"
            throw ConfigurationErrors([ConfigurationError(key: key, reason: "cannot be changed here")])
        }
        var merged = SeedExport.userTable(stored)
        merged["token"] = nil
        var values: [String: JSONValue] = [:]
        for (key, node) in merged { values[key] = JSONValue(toml: node) }
        for (key, value) in body { values[key] = value == .null ? nil : value }
        var user = try user(id: stored.id, body: values, token: "placeholder-token", knownModels: knownModels)
        user.tokenDigest = stored.tokenDigest
        return user
    }

    private static func read<T>(_ body: [String: JSONValue], _ reader: (TableReader) -> T?) throws(ConfigurationErrors) -> T {
        let errors = ErrorCollector()
        let value = reader(TableReader(path: "", values: body.mapValues(TOMLNode.init(json:)), errors: errors))
        guard errors.errors.isEmpty, let value else {
            throw ConfigurationErrors(errors.errors.isEmpty ? [ConfigurationError(key: "", reason: "the body is not valid")] : errors.errors)
        }
        return value
    }
}

extension JSONValue {
    /// A TOML value as JSON (dates, which no key takes, as their text).
    package init(toml node: TOMLNode) {
        switch node {
        case .table(let members): self = .object(members.mapValues(JSONValue.init(toml:)))
        case .array(let items): self = .array(items.map(JSONValue.init(toml:)))
        case .string(let value): self = .string(value)
        case .integer(let value): self = .number(Double(value))
        case .double(let value): self = .number(value)
        case .bool(let value): self = .bool(value)
        case .other(let value): self = .string(value)
        }
    }
}
