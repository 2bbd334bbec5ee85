/// The configuration routing reads: one immutable value, rebuilt and swapped after every change.
package struct EffectiveConfiguration: Sendable {
    /// An enabled provider with its secrets resolved. A class, so that every backend of the provider
    /// shares one instance and handing one around is a retain rather than a copy of its spec.
    package final class Provider: Sendable {
        package let spec: ProviderSpec
        /// The key with `env:` references resolved; `nil` when none is configured, the variable is
        /// unset or its value cannot be sent (control characters: the seed reader refuses those).
        package let apiKey: String?
        /// The extra headers with `env:` references resolved, those that can be sent.
        package let headers: [(name: String, value: String)]
        /// Every secret value the provider sends or holds, for `redacting`.
        private let secrets: [String]
        package var id: String { spec.id }

        package init(spec: ProviderSpec, environment: [String: String]) {
            self.spec = spec
            apiKey = spec.apiKey?.resolvedHeaderValue(in: environment)
            headers = spec.headers.sorted { $0.key < $1.key }.compactMap { name, value in
                value.resolvedHeaderValue(in: environment).map { (name, $0) }
            }
            let candidates =
                [spec.apiKey?.resolve(in: environment), spec.baseURL.flatMap(URLCredentials.password(in:))]
                + spec.headers.values.map { $0.resolve(in: environment) }
            // Longest first, so that a secret holding another is replaced whole.
            secrets = candidates.compactMap { $0 }.filter { $0.count >= 4 }.sorted { $0.count > $1.count }
        }

        /// The text with every secret of the provider (key, header values, URL password) replaced by
        /// the placeholder: what error texts about the provider pass through before anyone sees them.
        package func redacting(_ text: String) -> String {
            var text = text
            for secret in secrets where text.contains(secret) {
                text = text.replacing(secret, with: SeedExport.redacted)
            }
            return text
        }
    }

    /// One provider + upstream model inside a version. Immutable and shared: routing copies backends
    /// into candidates, orders and decisions on every request, and a class makes each copy a retain.
    package final class Backend: Sendable {
        package let provider: Provider
        package let upstreamModel: String
        package let weight: Double
        package let priority: Int
        package let tags: [String]
        package let mock: MockSettings
        /// `provider/upstream-model`, as reported in `x-switchyard-backend`; also the key of its health.
        package let label: String
        /// Azure's deployment name; `nil` uses the upstream model.
        package let deployment: String?

        package var region: String? { provider.spec.region }

        package init(
            provider: Provider, upstreamModel: String, weight: Double, priority: Int, tags: [String], mock: MockSettings, label: String,
            deployment: String? = nil
        ) {
            self.deployment = deployment
            self.provider = provider
            self.upstreamModel = upstreamModel
            self.weight = weight
            self.priority = priority
            self.tags = tags
            self.mock = mock
            self.label = label
        }
    }

    package struct Version: Sendable {
        package var name: String
        package var weightBasisPoints: Int
        package var isDefault: Bool
        package var params: [String: JSONValue]
        /// Backends that can serve: enabled provider, weight above zero.
        package var backends: [Backend]
    }

    package struct Model: Sendable {
        package var name: String
        package var strategy: BalancingStrategy
        /// Active versions, default first.
        package var versions: [Version]
        package var split: ReleaseSplit
        package var defaultVersionIndex: Int
        package var smartAI: SmartAISettings
        package var sticky: StickyMode
        package var hashSeed: String
        package var releaseStrategy: ReleaseStrategy
        /// A rollout is moving this model's split: the release strategy gives way to the split.
        package var hasActiveRollout: Bool
        /// The running experiment on this model: its variants decide the version instead of the release strategy.
        package var experiment: ActiveExperiment?
        /// The version that gets copies of a share of the requests: the model's `shadow`, or a rollout's shadow step.
        package var shadow: Shadow?

        package var defaultVersion: Version { versions[defaultVersionIndex] }
    }

    /// A candidate version that gets copies of a share of a model's requests and serves no one.
    package struct Shadow: Sendable {
        package var version: Version
        package var spec: ShadowSpec
    }

    package var settings: GatewaySettings
    package var models: [String: Model]
    package var usersByDigest: [TokenDigest: UserSpec]
    /// Enabled model names, sorted, for listing.
    package var modelNames: [String]

    /// - Parameters:
    ///   - rolloutModels: models with a rollout in progress.
    ///   - experiments: the running experiments, at most one per model.
    ///   - rolloutShadows: the shadow of each model whose rollout is on a shadow step (it replaces the model's own).
    package init(
        _ spec: ConfigurationSpec, environment: [String: String], rolloutModels: Set<String> = [], experiments: [Experiment] = [],
        rolloutShadows: [String: ShadowSpec] = [:]
    ) {
        settings = spec.settings
        var providers: [String: Provider] = [:]
        for provider in spec.providers where provider.enabled {
            providers[provider.id] = Provider(spec: provider, environment: environment)
        }
        var models: [String: Model] = [:]
        func effective(_ version: VersionSpec) -> Version {
            Version(
                name: version.name, weightBasisPoints: version.weightBasisPoints, isDefault: version.isDefault,
                params: version.params,
                backends: version.backends.compactMap { backend in
                    guard let provider = providers[backend.provider], backend.weight > 0 else { return nil }
                    return Backend(
                        provider: provider, upstreamModel: backend.model, weight: backend.weight, priority: backend.priority,
                        tags: backend.tags, mock: backend.mock ?? MockSettings(), label: "\(provider.id)/\(backend.model)",
                        deployment: backend.deployment)
                })
        }
        for model in spec.models where model.enabled {
            let versions = model.versions.filter(\.isActive).map(effective)
            guard let defaultIndex = versions.firstIndex(where: \.isDefault) else { continue }
            let shadow = (rolloutShadows[model.name] ?? model.shadow).flatMap { shadow -> Shadow? in
                guard shadow.shareBasisPoints > 0, let version = model.versions.first(where: { $0.name == shadow.version && !$0.isDefault })
                else { return nil }
                return Shadow(version: effective(version), spec: shadow)
            }
            models[model.name] = Model(
                name: model.name, strategy: model.strategy, versions: versions,
                split: ReleaseSplit(weights: versions.map(\.weightBasisPoints)), defaultVersionIndex: defaultIndex,
                smartAI: model.smartAI ?? spec.settings.smartAI, sticky: model.sticky, hashSeed: model.effectiveHashSeed,
                releaseStrategy: model.releaseStrategy, hasActiveRollout: rolloutModels.contains(model.name), shadow: shadow)
        }
        for experiment in experiments where experiment.status == .running {
            models[experiment.model]?.experiment = ActiveExperiment(experiment)
        }
        self.models = models
        modelNames = models.keys.sorted()
        var users: [TokenDigest: UserSpec] = [:]
        // A user still carrying the export placeholder instead of a token cannot sign in.
        for user in spec.users where user.enabled && user.tokenDigest != TokenDigest.redacted {
            users[user.tokenDigest] = user
        }
        usersByDigest = users
    }

    /// The enabled user holding this token, if any.
    package func user(forToken token: String, memo: TokenDigestMemo? = nil) -> UserSpec? {
        let digest = memo?.digest(of: token) ?? TokenDigest(token: token)
        guard let user = usersByDigest[digest], user.tokenDigest.constantTimeEquals(digest) else { return nil }
        return user
    }
}
