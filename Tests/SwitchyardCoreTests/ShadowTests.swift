import Foundation
import Testing

@testable import SwitchyardCore

@Suite struct AnswerAgreementTests {
    @Test(arguments: [
        ("The cat sat on the mat.", "the cat sat on the mat", 1.0, false),
        ("The cat sat on the mat.", "The cat sat on the mat.  ", 1.0, true),
        ("mat the on sat cat the", "the cat sat on the mat", 1.0, false),
        ("yes", "no", 0.0, false),
        ("", "", 1.0, true),
        ("", "something", 0.0, false),
        // 2 × 2 shared ("paris", "is") ÷ (4 + 4)
        ("Paris is the capital", "Paris is lovely indeed", 0.5, false),
        // Repeated tokens count as often as both have them: 2 × 1 ÷ (3 + 1).
        ("no no no", "no", 0.5, false),
    ])
    func knownPairs(first: String, second: String, similarity: Double, exact: Bool) {
        #expect(abs(AnswerAgreement.similarity(first, second) - similarity) < 1e-12)
        #expect(AnswerAgreement.similarity(second, first) == AnswerAgreement.similarity(first, second))
        #expect(AnswerAgreement.isExactMatch(first, second) == exact)
    }

    @Test func tokensAreLowerCasedRunsOfLettersAndDigits() {
        #expect(AnswerAgreement.tokens("Hello, WORLD! 42 times—über") == ["hello", "world", "42", "times", "über"])
    }

    @Test func examplesKeepTextOnlyWhenAskedAndOnlyForDifferingAnswers() {
        #expect(ShadowAgreement(primary: "a b", shadow: "a c", keepExamples: 0).example == nil)
        #expect(ShadowAgreement(primary: "a b", shadow: "a b", keepExamples: 5).example == nil)
        let kept = ShadowAgreement(primary: "a b", shadow: "a c", keepExamples: 5)
        #expect(kept.example == ShadowExample(primary: "a b", shadow: "a c", keep: 5) && kept.similarity == 0.5 && !kept.exactMatch)
    }

    func json(_ text: String) throws -> JSONValue {
        try JSONValue.parse(Array(text.utf8))
    }

    @Test func answerTextReadsContentOrToolCalls() throws {
        let plain = try json(#"{"choices":[{"message":{"role":"assistant","content":"Hi there"}}]}"#)
        #expect(AnswerText.ofCompletion(plain) == "Hi there")
        let tools = try json(
            #"{"choices":[{"message":{"content":null,"tool_calls":[{"function":{"name":"get_weather","arguments":"{\"city\":\"Oslo\"}"}}]}}]}"#)
        #expect(AnswerText.ofCompletion(tools) == #"get_weather{"city":"Oslo"}"#)
        #expect(AnswerText.ofCompletion(try json(#"{"data":[]}"#)) == nil)
        #expect(AnswerText.ofChunk(try json(#"{"choices":[{"delta":{"content":"Hel"}}]}"#)) == "Hel")
        #expect(AnswerText.ofChunk(try json(#"{"choices":[],"usage":{"prompt_tokens":1}}"#)) == "")
    }

    @Test func answerTextReadsLegacyCompletionsAndAnthropicMessages() throws {
        #expect(AnswerText.ofCompletion(try json(#"{"object":"text_completion","choices":[{"text":"once upon"}]}"#)) == "once upon")
        #expect(AnswerText.ofChunk(try json(#"{"choices":[{"text":"once","finish_reason":null}]}"#)) == "once")
        let message = try json(
            #"{"type":"message","content":[{"type":"text","text":"Hi "},{"type":"tool_use","input":{}},{"type":"text","text":"you"}]}"#)
        #expect(AnswerText.ofCompletion(message) == "Hi you")
        let delta = try json(#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hel"}}"#)
        #expect(AnswerText.ofChunk(delta) == "Hel")
        let response = try json(
            #"{"object":"response","output":[{"type":"message","content":[{"type":"output_text","text":"Hi"}]},"#
                + #"{"type":"function_call","name":"f","arguments":"{}"}]}"#)
        #expect(AnswerText.ofCompletion(response) == "Hi f{}")
        #expect(AnswerText.ofChunk(try json(#"{"type":"response.output_text.delta","delta":"Hel"}"#)) == "Hel")
        #expect(AnswerText.ofChunk(try json(#"{"type":"response.function_call_arguments.delta","delta":"{"}"#)) == "")
        #expect(AnswerText.ofChunk(try json(#"{"type":"message_delta","delta":{"stop_reason":"end_turn"}}"#)) == "")
    }
}

@Suite struct ShadowComparisonTests {
    @Test func comparesEachCopyWithThePrimaryItCopied() {
        let pairs = (0..<10).map { (index: Int) -> ShadowPairRecord in
            let failed = index < 3
            let shadow = AnswerRecord(
                status: failed ? 500 : 200, latencyMilliseconds: Double(200 + index), timeToFirstTokenMilliseconds: 50, inputTokens: 10,
                outputTokens: 10, costUSD: 0.002)
            let primary = AnswerRecord(status: 200, latencyMilliseconds: Double(100 + index), inputTokens: 10, outputTokens: 5, costUSD: 0.001)
            let similarity: Double? = failed ? nil : (index < 5 ? 1 : 0.55)
            let exact: Bool? = failed ? nil : index < 5
            return ShadowPairRecord(shadow: shadow, primary: primary, similarity: similarity, exactMatch: exact)
        }
        let comparison = ShadowComparison(pairs)
        #expect(comparison.shadow.requests == 10 && comparison.shadow.errors == 3 && comparison.shadow.errorRate == 0.3)
        #expect(comparison.primary.errorRate == 0)
        #expect(comparison.shadow.p50LatencyMilliseconds == 204 && comparison.primary.p50LatencyMilliseconds == 104)
        #expect(comparison.shadow.tokensPerRequest == 20 && comparison.primary.tokensPerRequest == 15)
        #expect(ShadowComparison.ratio(comparison.shadow.costPerRequestUSD, comparison.primary.costPerRequestUSD).map { abs($0 - 2) < 1e-9 } == true)
        #expect(comparison.primary.p50TTFTMilliseconds == nil, "no TTFT recorded for plain primaries")
        let agreement = comparison.agreement
        #expect(agreement.compared == 7)
        #expect(agreement.exactMatchRate.map { abs($0 - 2.0 / 7) < 1e-12 } == true)
        #expect(agreement.histogram[5] == 5 && agreement.histogram[9] == 2)
        #expect(agreement.p50Similarity == 0.55)
    }

    @Test func nothingRecordedMeansNothingMeasured() {
        let comparison = ShadowComparison([])
        #expect(comparison.shadow.errorRate == nil && comparison.agreement.meanSimilarity == nil && comparison.agreement.compared == 0)
    }
}

@Suite struct ShadowConfigurationTests {
    static let seed = """
        [providers.demo]
        format = "mock"
        [models.chat]
        sticky = "user"
        [models.chat.versions.v1]
        weight = 100
        default = true
        backends = [ { provider = "demo", model = "a" } ]
        [models.chat.versions.v2]
        weight = 0
        backends = [ { provider = "demo", model = "b" } ]
        [models.chat.shadow]
        version = "v2"
        share = 25.5
        max_in_flight = 4
        [users.alice]
        token = "sk-alice-token"
        """

    @Test func theSeedDeclaresAShadowWithDefaults() throws {
        let model = try Seed(toml: Self.seed, environment: [:]).configuration.models[0]
        #expect(model.shadow == ShadowSpec(version: "v2", shareBasisPoints: 2_550, maxInFlight: 4, keepExamples: 0))
        let text = SeedExport.text(try Seed(toml: Self.seed, environment: [:]).configuration, header: "")
        let exported = try Seed(toml: text.replacingOccurrences(of: "\"<redacted>\"", with: "\"sk-alice-token\""), environment: [:])
        #expect(exported.configuration.models[0].shadow == model.shadow, "the shadow survives an export")
    }

    @Test(arguments: [
        ("version = \"v9\"\nshare = 10", "models.chat.shadow.version"),
        ("version = \"v1\"\nshare = 10", "models.chat.shadow.version"),
        ("version = \"v2\"\nshare = 10.001", "models.chat.shadow.share"),
        ("version = \"v2\"", "models.chat.shadow.share"),
        ("version = \"v2\"\nshare = 10\nmax_in_flight = 0", "models.chat.shadow.max_in_flight"),
        ("version = \"v2\"\nshare = 10\nmirror = true", "models.chat.shadow.mirror"),
    ])
    func badShadowsAreRefusedWithTheirKey(table: String, key: String) {
        let seed = Self.seed.replacingOccurrences(of: "version = \"v2\"\nshare = 25.5\nmax_in_flight = 4", with: table)
        #expect(throws: ConfigurationErrors.self) { try Seed(toml: seed, environment: [:]) }
        do {
            _ = try Seed(toml: seed, environment: [:])
        } catch let errors as ConfigurationErrors {
            #expect(errors.errors.contains { $0.key == key }, "\(errors)")
        } catch {
            Issue.record("\(error)")
        }
    }

    @Test func aShareOfRequestsIsCopiedStickyByTheSplitsBucket() throws {
        let configuration = EffectiveConfiguration(try Seed(toml: Self.seed, environment: [:]).configuration, environment: [:])
        let alice = configuration.user(forToken: "sk-alice-token")!
        var random = SplitMix64(seed: 3)
        var copied = 0
        for index in 0..<4_000 {
            let endUser = "end-user-\(index)"
            let decision = try RequestRouter().route(
                RouteRequest(model: "chat", user: alice, endUser: endUser), in: configuration, health: { _ in .unknown }, using: &random)
            #expect(decision.version.name == "v1", "a shadow serves no one")
            let expected = StickyHash.bucket(seed: "chat", key: endUser) < 2_550
            #expect((decision.shadow != nil) == expected)
            if let shadow = decision.shadow {
                copied += 1
                #expect(shadow.version.name == "v2" && shadow.backends.map(\.label) == ["demo/b"] && shadow.spec.maxInFlight == 4)
            }
        }
        #expect(abs(Double(copied) / 4_000 - 0.255) < 0.03)
    }

    @Test func aShadowWithoutAHealthyBackendGetsNoBackends() throws {
        let configuration = EffectiveConfiguration(
            try Seed(toml: Self.seed.replacingOccurrences(of: "share = 25.5", with: "share = 100"), environment: [:]).configuration, environment: [:])
        var random = SplitMix64(seed: 4)
        let open = BackendStatus(breakerState: "open", breakerAllows: false)
        let decision = try RequestRouter().route(
            RouteRequest(model: "chat", user: configuration.user(forToken: "sk-alice-token")!), in: configuration,
            health: { $0 == "demo/b" ? open : .unknown }, using: &random)
        #expect(decision.shadow?.version.name == "v2" && decision.shadow?.backends.isEmpty == true, "counted as dropped, not sent")
    }

    @Test func aRolloutsShadowStepReplacesTheModelsShadow() throws {
        let spec = try Seed(toml: Self.seed, environment: [:]).configuration
        let configuration = EffectiveConfiguration(
            spec, environment: [:], rolloutShadows: ["chat": ShadowSpec(version: "v2", shareBasisPoints: 10_000, maxInFlight: 8)])
        #expect(configuration.models["chat"]?.shadow?.spec.shareBasisPoints == 10_000)
    }

    @Test func promotingTheShadowVersionEndsTheShadow() throws {
        let model = try Seed(toml: Self.seed, environment: [:]).configuration.models[0]
        #expect(try model.rolledBack(to: "v2").shadow == nil)
        #expect(try model.withWeight(500, for: "v2").shadow != nil)
    }
}

@Suite struct ShadowStepTests {
    static func rollout(_ analysis: RolloutAnalysis = .standard) -> Rollout {
        Rollout(
            id: "r1", model: "chat", canary: "v2", stable: "v1",
            steps: [
                .shadow(ShadowStep(shareBasisPoints: 5_000, durationSeconds: 600, minRequests: 100)), .setWeight(basisPoints: 1_000),
                .pause(seconds: nil),
            ],
            analysis: analysis, now: 0)
    }

    static let stable = VersionWindow(requests: 2_000, errors: 20, p95LatencyMilliseconds: 100)

    @Test func aHealthyShadowPassesToTheFirstWeightOnceItsTimeIsUp() {
        var rollout = Self.rollout()
        #expect(rollout.advance(now: 0) == [])
        #expect(rollout.currentShadowStep?.shareBasisPoints == 5_000 && rollout.canaryWeightBasisPoints == 0)
        #expect(rollout.shadowVerdict == "running")
        let copies = VersionWindow(requests: 150, errors: 1, p95LatencyMilliseconds: 110)
        #expect(rollout.evaluate(now: 30, canary: copies, stable: Self.stable) == [], "passed, but the step lasts 10 minutes")
        #expect(rollout.advance(now: 300) == [])
        #expect(rollout.advance(now: 600) == [.setCanaryWeight(basisPoints: 1_000)])
        #expect(rollout.currentShadowStep == nil && rollout.shadowVerdict == "passed")
    }

    @Test func aFailingShadowAbortsBeforeAnyoneIsServed() {
        var rollout = Self.rollout()
        _ = rollout.advance(now: 0)
        let failing = VersionWindow(requests: 150, errors: 75)
        #expect(rollout.evaluate(now: 30, canary: failing, stable: Self.stable) == [])
        #expect(rollout.evaluate(now: 60, canary: failing, stable: Self.stable) == [.abort])
        #expect(rollout.state == .aborted && rollout.canaryWeightBasisPoints == 0 && rollout.shadowVerdict == "failed")
    }

    @Test func theShadowStepsMinimumAndAgreementAreJudged() {
        var analysis = RolloutAnalysis.standard
        analysis.minAgreement = 0.8
        analysis.failureLimit = 1
        var rollout = Self.rollout(analysis)
        _ = rollout.advance(now: 0)
        _ = rollout.evaluate(now: 30, canary: VersionWindow(requests: 60, errors: 0, meanAgreement: 0.9), stable: Self.stable)
        #expect(rollout.evaluations.last?.decision == "waiting: 60 shadow and 2000 stable requests, 100 needed")
        let unlike = VersionWindow(requests: 120, errors: 0, meanAgreement: 0.4)
        #expect(rollout.evaluate(now: 60, canary: unlike, stable: Self.stable) == [.abort])
        #expect(rollout.evaluations.last?.checks.first { $0.name == "min_agreement" }?.measured == 0.4)
    }

    @Test func aShadowStepIsReadOnlyAsTheFirstStep() {
        let errors = ErrorCollector()
        let late: [String: JSONValue] = [
            "canary": .string("v2"),
            "steps": .array([
                .object(["set_weight": .number(1)]), .object(["shadow": .object(["share": .number(50), "duration": .string("10m")])]),
            ]),
        ]
        let table = TableReader(path: "rollout", values: late.mapValues(TOMLNode.init(json:)), errors: errors)
        #expect(RolloutRequest.read(from: table) == nil)
        #expect(errors.errors.contains { $0.key == "rollout.steps[1].shadow" })
        let first: [String: JSONValue] = [
            "canary": .string("v2"),
            "steps": .array([.object(["shadow": .object(["share": .number(50), "duration": .string("10m"), "min_requests": .number(200)])])]),
        ]
        let good = TableReader(path: "rollout", values: first.mapValues(TOMLNode.init(json:)), errors: ErrorCollector())
        #expect(RolloutRequest.read(from: good)?.steps == [.shadow(ShadowStep(shareBasisPoints: 5_000, durationSeconds: 600, minRequests: 200))])
    }
}
