import Testing

@testable import SwitchyardCore

@Suite struct RoutingTests {
    @Test func splitRangesFollowVersionOrder() {
        let split = ReleaseSplit(weights: [9_000, 995, 5])
        #expect(split.versionIndex(forBucket: 0) == 0)
        #expect(split.versionIndex(forBucket: 8_999) == 0)
        #expect(split.versionIndex(forBucket: 9_000) == 1)
        #expect(split.versionIndex(forBucket: 9_994) == 1)
        #expect(split.versionIndex(forBucket: 9_995) == 2)
        #expect(split.versionIndex(forBucket: 9_999) == 2)
    }

    @Test func zeroWeightVersionsOwnNoBucket() {
        let split = ReleaseSplit(weights: [0, 10_000, 0])
        for bucket in stride(from: 0, to: ReleaseSplit.bucketCount, by: 37) {
            #expect(split.versionIndex(forBucket: bucket) == 1)
        }
    }

    @Test(arguments: [[1.0, 1.0], [3.0, 1.0], [1.0, 2.0, 7.0]])
    func weightedOrderPicksFirstInProportionToWeight(weights: [Double]) {
        var random = SplitMix64(seed: 42)
        let draws = 40_000
        var firsts = Array(repeating: 0, count: weights.count)
        for _ in 0..<draws {
            let order = WeightedOrder.order(Array(weights.indices), weight: { weights[$0] }, using: &random)
            #expect(Set(order) == Set(weights.indices))
            firsts[order[0]] += 1
        }
        let total = weights.reduce(0, +)
        for index in weights.indices {
            let expected = weights[index] / total
            #expect(abs(Double(firsts[index]) / Double(draws) - expected) < 0.015, "index \(index)")
        }
    }

    @Test func zeroWeightCandidatesComeLast() {
        var random = SplitMix64(seed: 7)
        for _ in 0..<1_000 {
            let order = WeightedOrder.order(["never", "always"], weight: { $0 == "never" ? 0 : 1 }, using: &random)
            #expect(order == ["always", "never"])
        }
    }

    static let configuration: EffectiveConfiguration = {
        let seed = try! Seed(
            toml: """
                [providers.demo]
                format = "mock"
                [providers.off]
                format = "mock"
                enabled = false
                [models.chat.versions.v1]
                weight = 80
                default = true
                backends = [ { provider = "demo", model = "a", weight = 3 }, { provider = "demo", model = "b", weight = 1 } ]
                [models.chat.versions.v2]
                weight = 20
                params = { temperature = 0.1 }
                backends = [ { provider = "demo", model = "c" } ]
                [models.dark.versions.v1]
                weight = 50
                default = true
                backends = [ { provider = "demo", model = "d" } ]
                [models.dark.versions.v2]
                weight = 50
                backends = [ { provider = "off", model = "e" } ]
                [models.other]
                backends = [ { provider = "demo", model = "o" } ]
                [users.alice]
                token = "sk-alice-token"
                allowed_models = ["chat", "dark"]
                """, environment: [:])
        return EffectiveConfiguration(seed.configuration, environment: [:])
    }()

    var alice: UserSpec { Self.configuration.user(forToken: "sk-alice-token")! }

    @Test func versionsAreChosenByTheSplitOverEndUsers() throws {
        var random = SplitMix64(seed: 1)
        var counts: [String: Int] = [:]
        for index in 0..<20_000 {
            let decision = try RequestRouter().route(
                RouteRequest(model: "chat", user: alice, endUser: "end-user-\(index)"), in: Self.configuration, health: { _ in .unknown },
                using: &random)
            counts[decision.version.name, default: 0] += 1
            #expect(decision.bucket == StickyHash.bucket(seed: "chat", key: "end-user-\(index)"))
        }
        #expect(abs(Double(counts["v2", default: 0]) / 20_000 - 0.2) < 0.015)
    }

    @Test func oneEndUserAlwaysGetsTheSameVersionAndTheAccountIsTheFallbackKey() throws {
        var random = SplitMix64(seed: 2)
        for key in ["x", "y", "zed", "end-user-7"] {
            let versions = try Set(
                (0..<50).map { _ in
                    try RequestRouter().route(
                        RouteRequest(model: "chat", user: alice, endUser: key), in: Self.configuration, health: { _ in .unknown },
                        using: &random
                    ).version.name
                })
            #expect(versions.count == 1)
        }
        let byAccount = try RequestRouter().route(
            RouteRequest(model: "chat", user: alice), in: Self.configuration, health: { _ in .unknown }, using: &random)
        #expect(byAccount.bucket == StickyHash.bucket(seed: "chat", key: "alice"))
    }

    @Test func aVersionWithoutUsableBackendsFallsBackToTheDefault() throws {
        var random = SplitMix64(seed: 3)
        for _ in 0..<500 {
            let decision = try RequestRouter().route(
                RouteRequest(model: "dark", user: alice), in: Self.configuration, health: { _ in .unknown }, using: &random)
            #expect(decision.version.name == "v1")
            #expect(decision.backends.map(\.label) == ["demo/d"])
        }
    }

    @Test func unknownAndForbiddenModelsAreRefused() {
        var random = SplitMix64(seed: 5)
        #expect(throws: RoutingFailure.unknownModel("ghost")) {
            try RequestRouter().route(RouteRequest(model: "ghost", user: alice), in: Self.configuration, health: { _ in .unknown }, using: &random)
        }
        #expect(throws: RoutingFailure.modelNotAllowed("other")) {
            try RequestRouter().route(RouteRequest(model: "other", user: alice), in: Self.configuration, health: { _ in .unknown }, using: &random)
        }
    }

    @Test func tokensAreMatchedByDigest() {
        #expect(Self.configuration.user(forToken: "sk-alice-token")?.id == "alice")
        #expect(Self.configuration.user(forToken: "sk-alice-tokeN") == nil)
        #expect(Self.configuration.user(forToken: "") == nil)
    }

    @Test func aConnectionsTokenMemoFollowsEveryChangeOfToken() {
        let memo = TokenDigestMemo()
        for token in ["sk-alice-token", "sk-alice-token", "sk-alice-tokeN", "", "sk-alice-token", "sk-alice-token-and-more"] {
            #expect(memo.digest(of: token) == TokenDigest(token: token))
            #expect(Self.configuration.user(forToken: token, memo: memo)?.id == Self.configuration.user(forToken: token)?.id)
        }
    }

    @Test func digestsAreSHA256Hex() {
        #expect(TokenDigest(token: "abc").hex == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(TokenDigest(token: "abc").constantTimeEquals(TokenDigest(token: "abc")))
        #expect(!TokenDigest(token: "abc").constantTimeEquals(TokenDigest(token: "abd")))
    }

    @Test func percentagesRoundTripThroughBasisPoints() {
        #expect(basisPoints(fromPercent: 0.05) == 5)
        #expect(basisPoints(fromPercent: 12.34) == 1_234)
        #expect(basisPoints(fromPercent: 100) == 10_000)
        #expect(basisPoints(fromPercent: 0.001) == nil)
        for points in [0, 5, 10, 99, 1_050, 1_234, 10_000] {
            #expect(basisPoints(fromPercent: Double(percentText(basisPoints: points))!) == points)
        }
    }

    @Test func histogramQuantilesReportTheBucketBound() {
        var histogram = LatencyHistogram()
        for value in [1.0, 2, 3, 40, 45, 48, 49, 200, 900, 70_000] {
            histogram.add(milliseconds: value)
        }
        #expect(histogram.total == 10)
        #expect(histogram.quantileUpperBound(0.5) == 50)
        #expect(histogram.quantileUpperBound(0.9) == 1_000)
        #expect(histogram.quantileUpperBound(1.0) == .infinity)
    }
}
