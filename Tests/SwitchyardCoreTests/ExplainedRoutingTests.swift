import Testing

@testable import SwitchyardCore

/// Explaining a decision must not change it: the request path routes without explanations, the
/// admin dry run with them, and both must send the same request to the same place.
@Suite struct ExplainedRoutingTests {
    /// A random configuration, request and health view, drawn from `random`.
    struct Scenario {
        var configuration: EffectiveConfiguration
        var request: RouteRequest
        var health: [String: BackendStatus]
        var turn: Int
        var versionTurn: Int
    }

    static let labels = ["a", "b", "c", "d"]

    static func scenario(_ random: inout SplitMix64) throws -> Scenario {
        func pick<T>(_ items: [T]) -> T { items[Int.random(in: 0..<items.count, using: &random)] }
        func chance(_ probability: Double) -> Bool { Double.random(in: 0..<1, using: &random) < probability }

        let providers = (0..<4).map { index in
            ProviderSpec(
                id: "p\(index)", format: .mock, region: pick([nil, "us", "eu"]), costInputPerMillionTokens: pick([0, 0.15, 1, 5]),
                costOutputPerMillionTokens: pick([0, 0.6, 2, 15]), enabled: index != 3 || chance(0.5))
        }
        var models: [ModelSpec] = []
        for modelIndex in 0..<3 {
            let versionCount = Int.random(in: 1...3, using: &random)
            let defaultIndex = Int.random(in: 0..<versionCount, using: &random)
            let versions = (0..<versionCount).map { versionIndex in
                VersionSpec(
                    name: "v\(versionIndex + 1)", weightBasisPoints: pick([0, 500, 2_500, 5_000, 5_000, 10_000]),
                    isDefault: versionIndex == defaultIndex,
                    backends: (0..<pick([0, 1, 2, 3, 3, 4])).map { backendIndex in
                        BackendSpec(
                            provider: pick(["p0", "p1", "p1", "p2", "p2", "p3", "ghost"]), model: labels[backendIndex],
                            weight: pick([0, 0.5, 1, 1, 3]), priority: pick([0, 1, 2, 5]),
                            tags: pick([[], [], [], [], ["red"], ["blue"], ["red", "blue"]]))
                    })
            }
            var model = ModelSpec(
                name: "m\(modelIndex)", strategy: pick(BalancingStrategy.allCases), versions: versions, sticky: pick(StickyMode.allCases),
                hashSeed: pick([nil, "salt"]))
            model.releaseStrategy = pick(ReleaseStrategy.allCases)
            models.append(model)
        }
        var experiments: [Experiment] = []
        if chance(0.3) {
            var experiment = Experiment(
                id: "e1", name: "e1", model: "m0", strategy: pick(Experiment.Strategy.allCases),
                variants: [
                    .init(id: "a", name: "a", target: pick([.version("v1"), .version("v2")]), weight: 1),
                    .init(
                        id: "b", name: "b", target: pick([.version("v3"), .version("gone"), .model("m1"), .model("m2"), .model("ghost")]), weight: 1),
                ],
                control: "a", now: 0)
            try experiment.apply(.start, now: 0)
            experiments.append(experiment)
        }
        let user = UserSpec(
            id: pick(["", "alice"]), tokenDigest: TokenDigest(token: "t"), allowedModels: pick([[], [], [], ["m0", "m1"]]),
            tags: pick([[], ["red"], ["blue", "green"]]), region: pick([nil, "us"]))
        let spec = ConfigurationSpec(providers: providers, models: models, users: [user])
        let configuration = EffectiveConfiguration(
            spec, environment: [:], rolloutModels: chance(0.2) ? ["m0", "m1"] : [], experiments: experiments)

        var health: [String: BackendStatus] = [:]
        for provider in 0..<4 {
            for label in labels where chance(0.5) {
                health["p\(provider)/\(label)"] = pick([
                    BackendStatus(breakerState: "open", breakerAllows: false, openUntil: pick([nil, 1_900_000_000])),
                    BackendStatus(breakerState: "half_open", breakerAllows: chance(0.5)),
                    BackendStatus(coolingDownUntil: 1_900_000_123.5),
                    BackendStatus(
                        latencyMilliseconds: pick([nil, 80, 300, 1_200]), successRate: pick([nil, 0, 0.5, 0.93, 0.99, 1]),
                        recoveryFactor: pick([0.3, 0.5, 1]), confidence: pick([0.2, 0.8, 0.95])),
                ])
            }
        }
        let modelName = chance(0.05) ? "ghost" : pick(["m0", "m1", "m2"])
        let session =
            chance(0.4)
            ? SessionBinding(
                userID: user.id, sessionID: "s1", model: chance(0.8) ? modelName : "m1", version: pick(["v1", "v1", "v2", "v3"]),
                backend: "\(pick(["p1", "p2"]))/\(pick(["a", "a", "b", "c"]))", expiresAt: .infinity)
            : nil
        let request = RouteRequest(
            model: modelName, user: user, endUser: pick([nil, "", "u1", "u2", "someone-else"]), sessionID: pick([nil, "s1"]),
            session: session, preferredRegion: pick([nil, nil, "eu", "us"]), excludedProviders: pick([[], [], ["p0"], ["p1", "p2"]]),
            estimate: RequestEstimate(inputTokens: pick([0, 1_000]), outputTokens: pick([0, 256])),
            strategyOverride: chance(0.2) ? pick(BalancingStrategy.allCases) : nil)
        return Scenario(
            configuration: configuration, request: request, health: health, turn: Int.random(in: -3...7, using: &random),
            versionTurn: Int.random(in: -3...7, using: &random))
    }

    @Test func explainingChangesNothingButTheExplanation() throws {
        var generator = SplitMix64(seed: 2_026)
        var seen = (decisions: 0, failures: 0, explainedNoBackend: 0, fellBack: 0, unhealthyOnly: 0, kept: 0, moved: 0, experiments: 0)
        for seed in 0..<4_000 as Range<UInt64> {
            let scenario = try Self.scenario(&generator)
            let health = scenario.health
            var quietRandom = SplitMix64(seed: seed)
            var explainedRandom = SplitMix64(seed: seed)
            let router = RequestRouter()
            let quiet = Result { () throws(RoutingFailure) in
                try router.route(
                    scenario.request, in: scenario.configuration, health: { health[$0] ?? .unknown }, turn: scenario.turn,
                    versionTurn: scenario.versionTurn, using: &quietRandom)
            }
            let explained = Result { () throws(RoutingFailure) in
                try router.route(
                    scenario.request, in: scenario.configuration, health: { health[$0] ?? .unknown }, turn: scenario.turn,
                    versionTurn: scenario.versionTurn, explain: true, using: &explainedRandom)
            }
            #expect(quietRandom.next() == explainedRandom.next(), "the same random draws, seed \(seed)")
            switch (quiet, explained) {
            case (.failure(let a), .failure(let b)):
                #expect(a == b, "the same failure and message, seed \(seed)")
                seen.failures += 1
                if case .noBackend = a { seen.explainedNoBackend += 1 }
            case (.success(let a), .success(let b)):
                seen.decisions += 1
                #expect(a.model.name == b.model.name && a.version.name == b.version.name, "seed \(seed)")
                #expect(a.backends.map(\.label) == b.backends.map(\.label), "seed \(seed)")
                #expect(a.strategy == b.strategy && a.releaseStrategy == b.releaseStrategy, "seed \(seed)")
                #expect(a.bucket == b.bucket, "seed \(seed)")
                #expect(a.fellBackFrom == b.fellBackFrom && a.unhealthyVersion == b.unhealthyVersion, "seed \(seed)")
                #expect(a.session == b.session, "seed \(seed)")
                #expect(a.usesUnhealthyBackends == b.usesUnhealthyBackends, "seed \(seed)")
                #expect(a.experiment == b.experiment, "seed \(seed)")
                #expect(a.reason.isEmpty && a.candidates.isEmpty, "no explanation unless asked, seed \(seed)")
                #expect(!b.reason.isEmpty && b.candidates.map(\.backend.label) == b.version.backends.map(\.label), "seed \(seed)")
                if a.fellBackFrom != nil { seen.fellBack += 1 }
                if a.usesUnhealthyBackends { seen.unhealthyOnly += 1 }
                if a.experiment != nil { seen.experiments += 1 }
                switch a.session {
                case .kept: seen.kept += 1
                case .moved: seen.moved += 1
                case .none: break
                }
            default:
                Issue.record("one way routed and the other failed, seed \(seed): \(quiet) vs \(explained)")
            }
        }
        // The scenarios reach every path worth comparing.
        #expect(seen.decisions > 1_000 && seen.failures > 100 && seen.explainedNoBackend > 50, "\(seen)")
        #expect(seen.fellBack > 20 && seen.unhealthyOnly > 20 && seen.kept > 20 && seen.moved > 20 && seen.experiments > 100, "\(seen)")
    }

    @Test func theNoBackendMessageNamesEachBackendAndWhatKeepsItOut() throws {
        var random = SplitMix64(seed: 1)
        let configuration = RouterHealthTests.configuration
        let user = try #require(configuration.user(forToken: "sk-plain-token"))
        let binding = SessionBinding(sessionID: "s", model: "chat", version: "v1", backend: "", expiresAt: .infinity)
        let open = BackendStatus(breakerState: "open", breakerAllows: false)
        #expect(
            throws: RoutingFailure.noBackend(
                model: "chat", version: "v1",
                reason: "no backend of version v1 can serve: us/a: provider us excluded by the request; eu/b: circuit open; "
                    + "us/team: provider us excluded by the request")
        ) {
            try RequestRouter().route(
                RouteRequest(model: "chat", user: user, session: binding, excludedProviders: ["us"]), in: configuration,
                health: { $0 == "eu/b" ? open : .unknown }, using: &random)
        }
    }
}
