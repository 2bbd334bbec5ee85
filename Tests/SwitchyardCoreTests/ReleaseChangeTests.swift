import Testing

@testable import SwitchyardCore

@Suite struct ReleaseChangeTests {
    static let model = ModelSpec(
        name: "chat",
        versions: [
            VersionSpec(name: "v1", weightBasisPoints: 9_000, isDefault: true, backends: [BackendSpec(provider: "p", model: "a")]),
            VersionSpec(name: "v2", weightBasisPoints: 1_000, isDefault: false, backends: [BackendSpec(provider: "p", model: "b")]),
            VersionSpec(name: "v3", weightBasisPoints: 0, isDefault: false, backends: [BackendSpec(provider: "p", model: "c")]),
        ])

    func weights(_ model: ModelSpec) -> [String: Int] {
        Dictionary(uniqueKeysWithValues: model.versions.map { ($0.name, $0.weightBasisPoints) })
    }

    @Test func aSplitMustSumToExactlyHundred() throws {
        #expect(weights(try Self.model.withSplit(["v1": 5_000, "v2": 2_500, "v3": 2_500])) == ["v1": 5_000, "v2": 2_500, "v3": 2_500])
        #expect(throws: ReleaseError.invalid("weights", "Weights of active versions must sum to 100, got 99.99.")) {
            try Self.model.withSplit(["v1": 9_000, "v2": 999])
        }
        #expect(throws: ReleaseError.unknownVersion("v9", field: "weights.v9")) { try Self.model.withSplit(["v9": 10_000]) }
    }

    @Test func oneVersionsShareIsTakenFromTheDefault() throws {
        #expect(weights(try Self.model.withWeight(5, for: "v3")) == ["v1": 8_995, "v2": 1_000, "v3": 5])
        #expect(weights(try Self.model.withWeight(0, for: "v2")) == ["v1": 10_000, "v2": 0, "v3": 0])
        #expect(throws: ReleaseError.self) { try Self.model.withWeight(9_500, for: "v3") }
        #expect(throws: ReleaseError.self) { try Self.model.withWeight(100, for: "v1") }
    }

    @Test func rollbackSendsEverythingToOneVersionAndRemembersThePreviousDefault() throws {
        let promoted = try Self.model.rolledBack(to: "v2")
        #expect(weights(promoted) == ["v1": 0, "v2": 10_000, "v3": 0])
        #expect(promoted.defaultVersionName == "v2" && promoted.previousDefault == "v1")
        #expect(promoted.versions.first?.name == "v2", "the default comes first in the split order")
        #expect(promoted.rollbackTarget == "v1")
        #expect(weights(try promoted.rolledBack(to: promoted.rollbackTarget!)) == ["v1": 10_000, "v2": 0, "v3": 0])
    }

    @Test func theCanaryIsPlacedLast() {
        #expect(Self.model.orderedForRelease(canary: "v2").versions.map(\.name) == ["v1", "v3", "v2"])
    }

    @Test func problemsNameTheirField() {
        var broken = Self.model
        broken.versions[1].weightBasisPoints = 500
        broken.versions[2].backends = [BackendSpec(provider: "ghost", model: "x")]
        let problems = broken.problems(knownProviders: ["p"])
        #expect(problems.map(\.field) == ["weights", "versions.v3.backends[0].provider"])
        #expect(problems.first?.message.contains("got 95") == true)
    }

    func rolloutRequest(_ json: String) -> (RolloutRequest?, [ConfigurationError]) {
        let errors = ErrorCollector()
        guard case .object(let body) = try! JSONValue.parse(Array(json.utf8)) else { return (nil, []) }
        let request = RolloutRequest.read(from: TableReader(path: "", values: body.mapValues(TOMLNode.init(json:)), errors: errors))
        return (request, errors.errors)
    }

    @Test func rolloutRequestsParseStepsAndDurations() throws {
        let (request, errors) = rolloutRequest(
            #"{"canary":"v2","steps":[{"set_weight":0.05},{"pause":"10m"},{"set_weight":5},{"pause":{}}],"analysis":{"interval":"15s","min_requests":30,"max_error_rate":0.1}}"#
        )
        #expect(errors.isEmpty)
        let parsed = try #require(request)
        #expect(parsed.steps == [.setWeight(basisPoints: 5), .pause(seconds: 600), .setWeight(basisPoints: 500), .pause(seconds: nil)])
        #expect(parsed.analysis.intervalSeconds == 15 && parsed.analysis.minRequests == 30 && parsed.analysis.maxErrorRate == 0.1)
        #expect(parsed.analysis.maxErrorRateIncrease == nil, "given analysis replaces the default guardrail")
        #expect(rolloutRequest(#"{"canary":"v2","steps":[{"set_weight":1}]}"#).0?.analysis == .standard)
    }

    @Test func badRolloutRequestsNameTheField() {
        #expect(rolloutRequest(#"{"steps":[{"set_weight":1}]}"#).1.map(\.key) == ["canary"])
        #expect(rolloutRequest(#"{"canary":"v2","steps":[{"pause":"soon"}]}"#).1.map(\.key) == ["steps[0].pause"])
        #expect(rolloutRequest(#"{"canary":"v2","steps":[{"set_weight":1,"pause":"1s"}]}"#).1.isEmpty == false)
        #expect(rolloutRequest(#"{"canary":"v2","steps":[],"analysis":{"typo":1}}"#).1.map(\.key).sorted() == ["analysis.typo", "steps"])
        #expect(Duration.seconds(parsing: "250ms") == 0.25 && Duration.seconds(parsing: "1.5h") == 5_400 && Duration.seconds(parsing: "5") == nil)
    }
}
