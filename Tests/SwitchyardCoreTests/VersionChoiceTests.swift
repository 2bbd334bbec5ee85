import Testing

@testable import SwitchyardCore

@Suite struct VersionChoiceTests {
    static func model(release: ReleaseStrategy, rollout: Bool = false) throws -> EffectiveConfiguration.Model {
        let seed = try Seed(
            toml: """
                [providers.demo]
                format = "mock"
                [models.chat]
                release_strategy = "\(release.rawValue)"
                [models.chat.versions.v1]
                weight = 60
                default = true
                backends = [ { provider = "demo", model = "one" } ]
                [models.chat.versions.v2]
                weight = 40
                backends = [ { provider = "demo", model = "two" } ]
                [models.chat.versions.v3]
                weight = 0
                backends = [ { provider = "demo", model = "three" } ]
                """, environment: [:])
        return EffectiveConfiguration(seed.configuration, environment: [:], rolloutModels: rollout ? ["chat"] : []).models["chat"]!
    }

    static let user = UserSpec(id: "", tokenDigest: TokenDigest(token: "x"))

    func choose(_ model: EffectiveConfiguration.Model, endUser: String, health: [String: BackendStatus] = [:], turn: Int = 0) -> VersionChoice {
        var random = SplitMix64(seed: 5)
        return VersionChoice.choose(
            for: RouteRequest(model: "chat", user: Self.user, endUser: endUser), model: model, health: { health[$0] ?? .unknown }, turn: turn,
            using: &random)
    }

    static let open = BackendStatus(breakerState: "open", breakerAllows: false)

    @Test func healthSkipsAVersionWhoseBackendsAreOpenAndSplitsAmongTheHealthy() throws {
        let model = try Self.model(release: .health)
        var counts: [String: Int] = [:]
        for index in 0..<2_000 {
            counts[model.versions[choose(model, endUser: "u\(index)").index].name, default: 0] += 1
        }
        #expect(abs(Double(counts["v2", default: 0]) / 2_000 - 0.4) < 0.04, "equally healthy: the split decides")
        #expect(counts["v3"] == nil, "no share, no traffic")
        for index in 0..<300 {
            let choice = choose(model, endUser: "u\(index)", health: ["demo/two": Self.open])
            #expect(model.versions[choice.index].name == "v1")
        }
        #expect(choose(model, endUser: "x", health: ["demo/two": Self.open]).reason(in: model).contains("less healthy: v2 0 %"))
    }

    @Test func healthPrefersTheHigherSuccessRate() throws {
        let model = try Self.model(release: .health)
        let health = ["demo/one": BackendStatus(successRate: 0.7), "demo/two": BackendStatus(successRate: 0.99)]
        for index in 0..<200 { #expect(model.versions[choose(model, endUser: "u\(index)", health: health).index].name == "v2") }
    }

    @Test func roundRobinRotatesOverVersionsWithAShare() throws {
        let model = try Self.model(release: .roundRobin)
        let names = (0..<4).map { model.versions[choose(model, endUser: "same", turn: $0).index].name }
        #expect(names == ["v1", "v2", "v1", "v2"])
    }

    @Test func aRunningRolloutKeepsTheSplitInCharge() throws {
        let model = try Self.model(release: .roundRobin, rollout: true)
        let choice = choose(model, endUser: "someone", turn: 1)
        #expect(choice.releaseStrategy == .weight && choice.reason(in: model).contains("a rollout is running"))
        #expect(choice.bucket == StickyHash.bucket(seed: "chat", key: "someone"))
    }

    @Test func traceparentsAreParsedStrictly() {
        #expect(TraceContext(traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")?.flags == "01")
        #expect(
            TraceContext(traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")?.traceparent
                == "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        for bad in [
            "", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7", "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
        ] {
            #expect(TraceContext(traceparent: bad) == nil, "\(bad)")
        }
        #expect(TraceContext(traceparent: "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future") != nil, "later versions may add fields")
    }
}
