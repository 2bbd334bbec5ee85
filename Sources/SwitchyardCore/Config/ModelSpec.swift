/// How a model picks among its versions.
package enum ReleaseStrategy: String, Sendable, Hashable, Codable, CaseIterable {
    /// The (sticky) release split.
    case weight
    /// The healthiest versions serve; the split decides among equally healthy ones.
    case health
    /// Each request goes to the next active version with a share above zero; not sticky.
    case roundRobin = "round_robin"
}

/// What keeps a client on the same version while the split stays the same or its version grows.
package enum StickyMode: String, Sendable, Hashable, Codable, CaseIterable {
    /// The request's OpenAI `user` field, else the authenticated user's id.
    case user
    /// The conversation header (`x-session-id` / `x-conversation-id`); random without one.
    case session
    /// Every request draws anew.
    case none
}

/// Settings of the built-in simulated upstream for one backend.
package struct MockSettings: Sendable, Hashable, Codable {
    /// Time after the first token until the answer is complete, spread evenly over a stream's chunks.
    package var latencyMilliseconds: Double
    /// Time before the first streamed chunk (and before a non-streamed answer starts).
    package var timeToFirstTokenMilliseconds: Double
    /// How many content chunks a streamed answer has at most (fewer when the answer is shorter).
    package var chunks: Int
    /// Share of requests answered with a simulated upstream error (HTTP 500), 0…1.
    package var errorRate: Double
    /// Seed of the random source deciding errors; `nil` draws from the system generator.
    package var seed: UInt64?

    package init(
        latencyMilliseconds: Double = 0, timeToFirstTokenMilliseconds: Double = 0, chunks: Int = 4,
        errorRate: Double = 0, seed: UInt64? = nil
    ) {
        self.latencyMilliseconds = latencyMilliseconds
        self.timeToFirstTokenMilliseconds = timeToFirstTokenMilliseconds
        self.chunks = chunks
        self.errorRate = errorRate
        self.seed = seed
    }

    static func read(from table: TableReader) -> MockSettings {
        let settings = MockSettings(
            latencyMilliseconds: table.number("latency_ms", in: 0...600_000) ?? 0,
            timeToFirstTokenMilliseconds: table.number("ttft_ms", in: 0...600_000) ?? 0,
            chunks: table.integer("chunks", in: 1...10_000) ?? 4,
            errorRate: table.number("error_rate", in: 0...1) ?? 0,
            seed: table.integer("seed", in: 0...Int.max).map { UInt64($0) })
        table.rejectUnknownKeys()
        return settings
    }
}

/// One provider and upstream model inside a version.
package struct BackendSpec: Sendable, Hashable, Codable {
    package var provider: String
    /// The model name sent upstream in place of the client's.
    package var model: String
    /// Relative share of the version's traffic.
    package var weight: Double
    /// Lower is preferred by the failover strategies.
    package var priority: Int
    /// A backend with tags serves only users sharing one of them.
    package var tags: [String]
    package var mock: MockSettings?
    /// Azure's deployment name; `nil` uses `model`.
    package var deployment: String?

    package init(
        provider: String, model: String, weight: Double = 1, priority: Int = 0, tags: [String] = [], mock: MockSettings? = nil,
        deployment: String? = nil
    ) {
        self.provider = provider
        self.model = model
        self.weight = weight
        self.priority = priority
        self.tags = tags
        self.mock = mock
        self.deployment = deployment
    }

    package static func read(from table: TableReader) -> BackendSpec? {
        let provider = table.requiredString("provider")
        let model = table.requiredString("model")
        let weight = table.number("weight", in: 0...1_000_000) ?? 1
        let priority = table.integer("priority", in: -1_000_000...1_000_000) ?? 0
        let tags = table.strings("tags") ?? []
        let mock = table.table("mock").map(MockSettings.read(from:))
        let deployment = table.string("deployment")
        table.rejectUnknownKeys()
        guard let provider, let model else { return nil }
        return BackendSpec(provider: provider, model: model, weight: weight, priority: priority, tags: tags, mock: mock, deployment: deployment)
    }
}

/// One configuration of a model: its share of traffic, parameter overrides and backends.
package struct VersionSpec: Sendable, Hashable, Codable {
    package var name: String
    /// Share of the model's traffic in basis points (1 = 0.01 %).
    package var weightBasisPoints: Int
    package var isDefault: Bool
    package var isActive: Bool
    /// Request fields this version sets, replacing what the client sent (temperature, max_tokens, …).
    package var params: [String: JSONValue]
    package var backends: [BackendSpec]

    package init(
        name: String, weightBasisPoints: Int, isDefault: Bool, isActive: Bool = true,
        params: [String: JSONValue] = [:], backends: [BackendSpec]
    ) {
        self.name = name
        self.weightBasisPoints = weightBasisPoints
        self.isDefault = isDefault
        self.isActive = isActive
        self.params = params
        self.backends = backends
    }
}

/// A logical model name clients send, with its versions.
package struct ModelSpec: Sendable, Hashable, Codable {
    package var name: String
    package var strategy: BalancingStrategy
    /// Default version first, then the others by name.
    package var versions: [VersionSpec]
    package var enabled: Bool
    /// Overrides `[settings.smart_ai]` for this model.
    package var smartAI: SmartAISettings?
    package var sticky: StickyMode
    /// Seed of the sticky hash; `nil` = the model name.
    package var hashSeed: String?
    /// The version that was default before the current one: where a rollback without a target goes.
    package var previousDefault: String?
    /// `[models.NAME.rollout]`: started when this model's seed form first appears or changes.
    package var seedRollout: RolloutRequest?
    package var releaseStrategy: ReleaseStrategy = .weight
    /// `[models.NAME.shadow]`: a candidate version that gets copies of a share of the requests.
    package var shadow: ShadowSpec?

    package init(
        name: String, strategy: BalancingStrategy = .weightedRandom, versions: [VersionSpec], enabled: Bool = true,
        smartAI: SmartAISettings? = nil, sticky: StickyMode = .user, hashSeed: String? = nil
    ) {
        self.name = name
        self.strategy = strategy
        self.versions = versions
        self.enabled = enabled
        self.smartAI = smartAI
        self.sticky = sticky
        self.hashSeed = hashSeed
    }

    package var effectiveHashSeed: String { hashSeed ?? name }

    /// Stored settings from before `sticky` existed decode with the defaults.
    package init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            name: try container.decode(String.self, forKey: .name), strategy: try container.decode(BalancingStrategy.self, forKey: .strategy),
            versions: try container.decode([VersionSpec].self, forKey: .versions), enabled: try container.decode(Bool.self, forKey: .enabled),
            smartAI: try container.decodeIfPresent(SmartAISettings.self, forKey: .smartAI),
            sticky: try container.decodeIfPresent(StickyMode.self, forKey: .sticky) ?? .user,
            hashSeed: try container.decodeIfPresent(String.self, forKey: .hashSeed))
        previousDefault = try container.decodeIfPresent(String.self, forKey: .previousDefault)
        seedRollout = try container.decodeIfPresent(RolloutRequest.self, forKey: .seedRollout)
        releaseStrategy = try container.decodeIfPresent(ReleaseStrategy.self, forKey: .releaseStrategy) ?? .weight
        shadow = try container.decodeIfPresent(ShadowSpec.self, forKey: .shadow)
    }

    package var defaultVersion: VersionSpec? {
        versions.first(where: \.isDefault)
    }
}

/// Converts a percentage with at most two decimals to basis points.
package func basisPoints(fromPercent percent: Double) -> Int? {
    let scaled = percent * 100
    let rounded = scaled.rounded()
    guard abs(scaled - rounded) < 1e-6, rounded >= 0, rounded <= 10_000 else { return nil }
    return Int(rounded)
}

/// Renders basis points as a percentage, e.g. 1050 → "10.5".
package func percentText(basisPoints: Int) -> String {
    let whole = basisPoints / 100
    let fraction = basisPoints % 100
    if fraction == 0 { return String(whole) }
    return fraction % 10 == 0 ? "\(whole).\(fraction / 10)" : "\(whole).\(fraction < 10 ? "0" : "")\(fraction)"
}

extension ModelSpec {
    /// Reads `[models.NAME]`: either `backends = […]` (one implicit version `v1`) or `[models.NAME.versions.*]`.
    static func read(
        name: String, from table: TableReader, providers: [String: ProviderSpec], declaredProviders: Set<String>,
        defaultSmartAI: SmartAISettings
    ) -> ModelSpec? {
        let errorCount = table.errors.errors.count
        var strategy = BalancingStrategy.weightedRandom
        if let strategyName = table.string("strategy") {
            if let known = BalancingStrategy(configName: strategyName) {
                strategy = known
            } else {
                let names = (BalancingStrategy.allCases.map(\.rawValue) + ["latency_first"]).joined(separator: ", ")
                table.fail("strategy", "unknown strategy \"\(strategyName)\" (supported: \(names))")
            }
        }
        let enabled = table.bool("enabled") ?? true
        var sticky = StickyMode.user
        if let stickyName = table.string("sticky") {
            if let known = StickyMode(rawValue: stickyName) {
                sticky = known
            } else {
                table.fail("sticky", "unknown value \"\(stickyName)\" (supported: user, session, none)")
            }
        }
        let hashSeed = table.string("hash_seed")
        var releaseStrategy = ReleaseStrategy.weight
        if let releaseName = table.string("release_strategy") {
            if let known = ReleaseStrategy(rawValue: releaseName) {
                releaseStrategy = known
            } else {
                table.fail("release_strategy", "unknown value \"\(releaseName)\" (supported: weight, health, round_robin)")
            }
        }
        let rollout = table.table("rollout").flatMap(RolloutRequest.read(from:))
        let shadow = table.table("shadow").flatMap(ShadowSpec.read(from:))
        let smartAI = table.table("smart_ai").map { SmartAISettings.readSelection(from: $0, defaults: defaultSmartAI) }
        let shorthandBackends = table.tables("backends")
        let versionTables = table.namedTables("versions")
        table.checkCount(versionTables.count, of: "versions", atMost: ObjectName.maximumVersionsPerModel, what: "versions per model")
        table.rejectUnknownKeys()

        var versions: [VersionSpec] = []
        switch (shorthandBackends, versionTables.isEmpty) {
        case (let backends?, true):
            let specs = readBackends(
                backends, at: table.keyPath("backends"), table: table, providers: providers, declaredProviders: declaredProviders)
            versions = [VersionSpec(name: "v1", weightBasisPoints: 10_000, isDefault: true, backends: specs)]
        case (_?, false):
            table.fail("backends", "give either backends (one implicit version v1) or versions, not both")
        case (nil, true):
            table.fail("versions", "a model needs backends or at least one version")
        case (nil, false):
            versions = readVersions(versionTables, model: table, providers: providers, declaredProviders: declaredProviders)
        }
        guard table.errors.errors.count == errorCount else { return nil }
        if let rollout, let canary = versions.first(where: { $0.name == rollout.canary }) {
            if canary.isDefault { table.errors.add(table.keyPath("rollout.canary"), "the canary cannot be the default version") }
        } else if let rollout {
            table.errors.add(table.keyPath("rollout.canary"), "unknown version \"\(rollout.canary)\"")
        }
        if let shadow {
            if let version = versions.first(where: { $0.name == shadow.version }) {
                if version.isDefault { table.errors.add(table.keyPath("shadow.version"), "the shadow cannot be the default version") }
            } else {
                table.errors.add(table.keyPath("shadow.version"), "unknown version \"\(shadow.version)\"")
            }
        }
        guard table.errors.errors.count == errorCount else { return nil }
        var model = ModelSpec(
            name: name, strategy: strategy, versions: versions, enabled: enabled, smartAI: smartAI, sticky: sticky, hashSeed: hashSeed
        ).orderedForRelease(canary: rollout?.canary)
        model.seedRollout = rollout
        model.releaseStrategy = releaseStrategy
        model.shadow = shadow
        return model
    }

    private static func readVersions(
        _ tables: [(name: String, reader: TableReader)], model: TableReader, providers: [String: ProviderSpec],
        declaredProviders: Set<String>
    ) -> [VersionSpec] {
        var versions: [VersionSpec] = []
        for (name, reader) in tables {
            let weightPercent = reader.number("weight", in: 0...100)
            var weight: Int?
            if let weightPercent {
                weight = basisPoints(fromPercent: weightPercent)
                if weight == nil {
                    reader.fail("weight", "a percentage with at most two decimals, got \(weightPercent)")
                }
            } else if tables.count == 1 {
                weight = 10_000
            } else if reader.values["weight"] == nil {
                reader.fail("weight", "is required when a model has several versions")
            }
            let isDefault = reader.bool("default") ?? (tables.count == 1)
            let isActive = reader.bool("active") ?? true
            let params = reader.jsonObject("params") ?? [:]
            let backendTables = reader.tables("backends")
            reader.rejectUnknownKeys()
            guard let backendTables else {
                reader.fail("backends", "is required")
                continue
            }
            let backends = readBackends(
                backendTables, at: reader.keyPath("backends"), table: reader, providers: providers, declaredProviders: declaredProviders)
            if isDefault && !isActive {
                reader.fail("active", "the default version cannot be inactive")
            }
            guard let weight else { continue }
            versions.append(
                VersionSpec(
                    name: name, weightBasisPoints: isActive ? weight : 0, isDefault: isDefault, isActive: isActive,
                    params: params, backends: backends))
        }
        guard versions.count == tables.count else { return versions }

        let defaults = versions.filter(\.isDefault)
        if defaults.count != 1 {
            model.fail("versions", "exactly one version must be default = true, found \(defaults.count)")
        }
        let total = versions.filter(\.isActive).reduce(0) { $0 + $1.weightBasisPoints }
        if total != 10_000 {
            model.fail("versions", "weights of active versions must sum to 100, got \(percentText(basisPoints: total))")
        }
        return versions
    }

    private static func readBackends(
        _ tables: [TableReader], at path: String, table: TableReader, providers: [String: ProviderSpec],
        declaredProviders: Set<String>
    ) -> [BackendSpec] {
        if tables.isEmpty {
            table.errors.add(path, "needs at least one backend")
        }
        if tables.count > ObjectName.maximumBackendsPerVersion {
            table.errors.add(path, "at most \(ObjectName.maximumBackendsPerVersion) backends per version (got \(tables.count))")
            return []
        }
        var backends: [BackendSpec] = []
        for reader in tables {
            guard let backend = BackendSpec.read(from: reader) else { continue }
            guard let provider = providers[backend.provider] else {
                if !declaredProviders.contains(backend.provider) {
                    reader.fail("provider", "unknown provider \"\(backend.provider)\"")
                }
                continue
            }
            if backend.mock != nil && provider.format != .mock {
                reader.fail("mock", "mock settings need a provider with format = \"mock\"")
                continue
            }
            backends.append(backend)
        }
        if !tables.isEmpty && backends.count == tables.count && backends.allSatisfy({ $0.weight == 0 }) {
            table.errors.add(path, "at least one backend needs a weight above 0")
        }
        return backends
    }
}
