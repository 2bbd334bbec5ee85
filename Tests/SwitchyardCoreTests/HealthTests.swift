import Testing

@testable import SwitchyardCore

@Suite struct HealthTests {
    static let policy = CircuitBreakerPolicy(failureThreshold: 3, errorRateThreshold: 0.5, window: 10, openSeconds: 30)

    @Test func consecutiveFailuresOpenTheCircuit() {
        var breaker = CircuitBreaker(policy: Self.policy)
        let transition1 = breaker.record(success: false, now: 0)
        #expect(transition1 == nil)
        let transition2 = breaker.record(success: false, now: 1)
        #expect(transition2 == nil)
        let transition = breaker.record(success: false, now: 2)
        #expect(transition?.to == "open" && transition?.reason == "3 consecutive failures")
        #expect(breaker.state == .open(until: 32))
        #expect(!breaker.allows(now: 31))
    }

    @Test func oneErrorDoesNotOpenButAnErrorRateOverTheWindowDoes() {
        var breaker = CircuitBreaker(policy: Self.policy)
        // Alternate: never 3 in a row, but 50 % of the last 10.
        var opened: CircuitBreaker.Transition?
        for index in 0..<10 {
            opened = breaker.record(success: index % 2 == 0, now: Double(index)) ?? opened
        }
        #expect(opened?.to == "open")
        #expect(opened?.reason == "error rate 50 % over the last 10 requests")
    }

    @Test func afterTheTimeoutOneProbeIsLetThroughAndItsOutcomeDecides() {
        var breaker = CircuitBreaker(policy: Self.policy)
        for second in 0..<3 { _ = breaker.record(success: false, now: Double(second)) }
        let admitted3 = breaker.acquire(now: 10)
        #expect(!admitted3, "still open")
        #expect(breaker.allows(now: 32))
        let admitted4 = breaker.acquire(now: 32)
        #expect(admitted4, "the probe")
        let admitted5 = breaker.acquire(now: 33)
        #expect(!admitted5, "only one probe at a time")
        let transition6 = breaker.record(success: false, now: 34)
        #expect(transition6?.to == "open")
        #expect(breaker.state == .open(until: 64))
        let admitted7 = breaker.acquire(now: 64)
        #expect(admitted7)
        let closed = breaker.record(success: true, now: 65)
        #expect(closed?.to == "closed" && closed?.reason == "probe succeeded")
        let admitted8 = breaker.acquire(now: 65)
        let admitted9 = breaker.acquire(now: 65)
        #expect(admitted8 && admitted9, "closed lets everything through")
    }

    @Test func aProbeThatNeverReportsIsReplacedAfterTheTimeout() {
        var breaker = CircuitBreaker(policy: Self.policy)
        for second in 0..<3 { _ = breaker.record(success: false, now: Double(second)) }
        let admitted10 = breaker.acquire(now: 40)
        #expect(admitted10)
        let admitted11 = breaker.acquire(now: 50)
        #expect(!admitted11)
        let admitted12 = breaker.acquire(now: 71)
        #expect(admitted12)
    }

    @Test func recoveredBackendsComeBackInStages() {
        var health = BackendHealth(policy: Self.policy, smartAI: SmartAISettings(), now: 0)
        for second in 0..<3 { _ = health.record(success: false, latencyMilliseconds: nil, now: Double(second)) }
        let admitted13 = health.acquire(now: 40)
        #expect(admitted13)
        _ = health.record(success: true, latencyMilliseconds: 10, now: 40)
        var factors: [Double] = [health.recoveryFactor]
        for index in 0..<11 {
            _ = health.record(success: true, latencyMilliseconds: 10, now: 41 + Double(index))
            factors.append(health.recoveryFactor)
        }
        #expect(factors == [0.3, 0.3, 0.3, 0.3, 0.3, 0.5, 0.5, 0.5, 0.5, 0.5, 1, 1])
    }

    @Test func confidenceRisesWithSuccessFallsWithFailureAndDriftsBack() {
        let settings = SmartAISettings(
            initialConfidence: 0.8, minConfidence: 0.1, successReward: 0.5, failurePenalty: 0.3, decayHalfLifeSeconds: 10)
        var health = BackendHealth(policy: Self.policy, smartAI: settings, now: 0)
        _ = health.record(success: true, latencyMilliseconds: 5, now: 0)
        #expect(abs(health.confidence - 0.9) < 1e-9)
        for _ in 0..<5 { _ = health.record(success: false, latencyMilliseconds: nil, now: 0) }
        #expect(health.confidence == 0.1, "never below the floor")
        #expect(abs(health.currentConfidence(now: 10) - 0.45) < 1e-9, "halfway back to the initial value after one half-life")
    }

    @Test func latencyIsAMovingAverageOfSuccesses() {
        var health = BackendHealth(policy: Self.policy, smartAI: SmartAISettings(), now: 0)
        _ = health.record(success: true, latencyMilliseconds: 100, now: 0)
        _ = health.record(success: true, latencyMilliseconds: 200, now: 1)
        _ = health.record(success: false, latencyMilliseconds: 5_000, now: 2)
        #expect(health.latencyMilliseconds == 120)
        health.coolDown(until: 10)
        #expect(health.isCoolingDown(now: 9) && !health.isCoolingDown(now: 10))
    }
}

@Suite struct RouterHealthTests {
    static let configuration: EffectiveConfiguration = {
        let seed = try! Seed(
            toml: """
                [providers.us]
                format = "mock"
                region = "us"
                [providers.eu]
                format = "mock"
                region = "eu"
                [models.chat]
                strategy = "failover"
                [models.chat.versions.v1]
                weight = 50
                default = true
                backends = [ { provider = "us", model = "a", priority = 1 }, { provider = "eu", model = "b", priority = 2 }, { provider = "us", model = "team", priority = 0, tags = ["red"] } ]
                [models.chat.versions.v2]
                weight = 50
                backends = [ { provider = "us", model = "canary" } ]
                [users.plain]
                token = "sk-plain-token"
                [users.red]
                token = "sk-red-token"
                tags = ["red"]
                """, environment: [:])
        return EffectiveConfiguration(seed.configuration, environment: [:])
    }()

    func route(
        _ user: String, session: SessionBinding? = nil, region: String? = nil, excluded: Set<String> = [],
        health: [String: BackendStatus] = [:], seed: UInt64 = 1
    ) throws -> RouteDecision {
        var random = SplitMix64(seed: seed)
        let user = Self.configuration.user(forToken: "sk-\(user)-token")!
        return try RequestRouter().route(
            RouteRequest(model: "chat", user: user, session: session, preferredRegion: region, excludedProviders: excluded),
            in: Self.configuration, health: { health[$0] ?? .unknown }, explain: true, using: &random)
    }

    static let open = BackendStatus(breakerState: "open", breakerAllows: false, openUntil: 1_900_000_000)

    @Test func taggedBackendsServeOnlyUsersSharingATag() throws {
        for seed in 0..<50 as Range<UInt64> {
            let plain = try route("plain", seed: seed)
            #expect(!plain.backends.map(\.label).contains("us/team"))
        }
        let binding = SessionBinding(sessionID: "s", model: "chat", version: "v1", backend: "us/a", expiresAt: .infinity)
        #expect(try route("red", session: binding).backends.map(\.label) == ["us/a", "us/team", "eu/b"], "session first, then priority")
        #expect(
            try route("red", session: SessionBinding(sessionID: "s", model: "chat", version: "v1", backend: "x", expiresAt: 1)).backends[0].label
                == "us/team")
    }

    @Test func openCircuitsAreSkippedWithAReasonAndTheDefaultVersionCatchesAFailedCanary() throws {
        let canaryDown = ["us/canary": Self.open]
        for seed in 0..<40 as Range<UInt64> {
            let decision = try route("plain", health: canaryDown, seed: seed)
            #expect(decision.version.name == "v1")
            if let from = decision.fellBackFrom {
                #expect(from == "v2")
                #expect(decision.candidates.isEmpty == false)
            }
        }
        let binding = SessionBinding(sessionID: "s", model: "chat", version: "v1", backend: "us/a", expiresAt: .infinity)
        let moved = try route("plain", session: binding, health: ["us/a": Self.open])
        #expect(moved.backends.map(\.label) == ["eu/b"])
        #expect(moved.session == .moved(from: "us/a"))
        #expect(moved.candidates.first { $0.backend.label == "us/a" }?.reason.hasPrefix("circuit open until") == true)
    }

    @Test func exclusionsFiltersAndRegionPreference() throws {
        let binding = SessionBinding(sessionID: "s", model: "chat", version: "v1", backend: "", expiresAt: .infinity)
        #expect(try route("plain", session: binding, excluded: ["us"]).backends.map(\.label) == ["eu/b"])
        #expect(try route("plain", session: binding, region: "eu").backends.map(\.label) == ["eu/b", "us/a"])
        #expect(throws: RoutingFailure.self) { try route("plain", session: binding, excluded: ["us", "eu"]) }
    }
}
