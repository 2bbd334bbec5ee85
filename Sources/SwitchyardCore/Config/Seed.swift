/// A whole seed file, validated: either every object in it is usable or the seed is rejected.
package struct Seed: Sendable {
    package var server: ServerSpec
    package var telemetry: TelemetrySpec
    package var configuration: ConfigurationSpec
    /// Clear user tokens by user id, as read from the file or its environment references, for the start banner.
    package var userTokens: [String: String]

    /// Parses and validates a seed document, reporting every problem at once.
    package init(toml text: String, environment: [String: String]) throws(ConfigurationErrors) {
        let root: [String: TOMLNode]
        do {
            root = try TOMLNode.parse(text)
        } catch {
            throw ConfigurationErrors([error])
        }
        let errors = ErrorCollector()
        let document = TableReader(path: "", values: root, errors: errors)
        server = ServerSpec.read(from: document.table("server"), environment: environment)
        telemetry = TelemetrySpec.read(
            from: document.table("telemetry") ?? TableReader(path: "telemetry", values: [:], errors: errors), environment: environment)
        let settings = GatewaySettings.read(from: document.table("settings"))

        var providers: [String: ProviderSpec] = [:]
        let providerTables = document.namedTables("providers")
        for (id, table) in providerTables {
            if let provider = ProviderSpec.read(id: id, from: table, environment: environment) {
                providers[id] = provider
            }
        }
        let declaredProviders = Set(providerTables.map(\.name))

        var models: [ModelSpec] = []
        for (name, table) in document.namedTables("models") {
            if let model = ModelSpec.read(
                name: name, from: table, providers: providers, declaredProviders: declaredProviders, defaultSmartAI: settings.smartAI)
            {
                models.append(model)
            }
        }
        let modelNames = Set(document.table("models")?.values.keys.map { $0 } ?? [])

        var users: [UserSpec] = []
        var tokens: [String: String] = [:]
        var usersByDigest: [TokenDigest: String] = [:]
        for (id, table) in document.namedTables("users") {
            guard let (user, token) = UserSpec.read(id: id, from: table, environment: environment) else { continue }
            for model in user.allowedModels where !modelNames.contains(model) {
                errors.add("users.\(id).allowed_models", "unknown model \"\(model)\"")
            }
            if let other = usersByDigest[user.tokenDigest], user.tokenDigest != TokenDigest.redacted {
                errors.add("users.\(id).token", "the same token as users.\(other)")
            }
            usersByDigest[user.tokenDigest] = id
            users.append(user)
            tokens[id] = token
        }
        document.rejectUnknownKeys()

        guard errors.errors.isEmpty else { throw ConfigurationErrors(errors.errors) }
        configuration = ConfigurationSpec(
            settings: settings, providers: providers.values.sorted { $0.id < $1.id }, models: models, users: users)
        userTokens = tokens
    }
}

/// The configuration objects a seed declares and the database holds: what routing is built from.
package struct ConfigurationSpec: Sendable, Hashable, Codable {
    package var settings: GatewaySettings
    package var providers: [ProviderSpec]
    package var models: [ModelSpec]
    package var users: [UserSpec]

    package init(settings: GatewaySettings = GatewaySettings(), providers: [ProviderSpec] = [], models: [ModelSpec] = [], users: [UserSpec] = []) {
        self.settings = settings
        self.providers = providers
        self.models = models
        self.users = users
    }
}
