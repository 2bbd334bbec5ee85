import Foundation
import Testing

@testable import SwitchyardCore

/// Reference values were computed once with SciPy 1.16 (`scipy.stats`, `scipy.special`) from the
/// inputs written next to each expectation; the statistics code does not use SciPy.
@Suite struct ExperimentStatisticsTests {
    private func close(_ a: Double?, _ b: Double, tolerance: Double = 1e-9) -> Bool {
        guard let a else { return false }
        return abs(a - b) <= tolerance * max(1, abs(b))
    }

    @Test func wilsonIntervalMatchesSciPy() throws {
        // binomtest(45, 50).proportion_ci(method="wilson")
        let interval = try #require(Statistics.wilsonInterval(successes: 45, trials: 50))
        #expect(close(interval.lowerBound, 0.7863976856252034))
        #expect(close(interval.upperBound, 0.9565242350681095))
        // binomtest(0, 20).proportion_ci(method="wilson")
        let none = try #require(Statistics.wilsonInterval(successes: 0, trials: 20))
        #expect(close(none.lowerBound, 0))
        #expect(close(none.upperBound, 0.16112515805281935))
        #expect(Statistics.wilsonInterval(successes: 0, trials: 0) == nil)
    }

    @Test func twoProportionZTestMatchesSciPy() throws {
        // Control 480/500 successes, variant 450/500; pooled z and 2 * norm.sf(|z|).
        let test = try #require(Statistics.twoProportionZTest(successesA: 480, trialsA: 500, successesB: 450, trialsB: 500))
        #expect(close(test.z, -3.718182996118764))
        #expect(close(test.p, 0.00020066089381932887, tolerance: 1e-7))
    }

    @Test func welchTTestFromRunningSumsMatchesSciPy() throws {
        // a = [120,135,128,142,118,131,126,139,124,133], b = [150,138,161,144,157,149,166,141,153,159,147]
        // ttest_ind(b, a, equal_var=False): t = 5.99637…, p = 9.0498e-06, df = 18.99945
        let a = Statistics.Moments(count: 10, sum: 1_296, sumOfSquares: 168_520)
        let b = Statistics.Moments(count: 11, sum: 1_665, sumOfSquares: 252_787)
        let test = try #require(Statistics.welchTTest(a, b))
        #expect(close(test.t, 5.996370571595679, tolerance: 1e-9))
        #expect(close(test.degreesOfFreedom, 18.99944913944597, tolerance: 1e-9))
        #expect(close(test.p, 9.049788764497967e-06, tolerance: 1e-6))
    }

    @Test func distributionTailsMatchSciPy() {
        #expect(close(Statistics.studentTUpperTail(2.1, degreesOfFreedom: 7.3), 0.0361233567124267, tolerance: 1e-9))  // t.sf(2.1, 7.3)
        #expect(close(Statistics.chiSquareUpperTail(13.7, degreesOfFreedom: 3), 0.0033432929655500708, tolerance: 1e-9))  // chi2.sf(13.7, 3)
        #expect(close(Statistics.chiSquareUpperTail(0.5, degreesOfFreedom: 1), 0.47950012218695337, tolerance: 1e-9))  // chi2.sf(0.5, 1)
        #expect(close(Statistics.chiSquareUpperTail(250, degreesOfFreedom: 40), 3.4695368870539687e-32, tolerance: 1e-6))  // chi2.sf(250, 40)
        #expect(close(Statistics.regularizedIncompleteBeta(0.3, a: 2.5, b: 0.5), 0.018927124071945658, tolerance: 1e-9))  // betainc(2.5, .5, .3)
        #expect(close(Statistics.regularizedLowerGamma(a: 3.5, x: 7.2), 0.9554925004854492, tolerance: 1e-9))  // gammainc(3.5, 7.2)
        #expect(close(Statistics.regularizedLowerGamma(a: 10, x: 2), 4.649807501726386e-05, tolerance: 1e-9))  // gammainc(10, 2)
    }

    @Test func sampleRatioMismatchIsFlaggedOnASkewedSplitOnly() throws {
        // chisquare([5040, 4960], [5000, 5000]) → 0.64, p = 0.4237; chisquare([5300, 4700], …) → 36, p = 1.97e-09
        let fair = try #require(Statistics.chiSquareGoodnessOfFit(observed: [5_040, 4_960], shares: [0.5, 0.5]))
        #expect(close(fair.chiSquare, 0.64))
        #expect(close(fair.p, 0.4237107971667936, tolerance: 1e-9))
        let skewed = try #require(Statistics.chiSquareGoodnessOfFit(observed: [5_300, 4_700], shares: [0.5, 0.5]))
        #expect(close(skewed.chiSquare, 36))
        #expect(close(skewed.p, 1.9731752900753933e-09, tolerance: 1e-6))
        // chisquare([2100, 2950, 4950], [2000, 3000, 5000]) → 6.3333, p = 0.04214
        let three = try #require(Statistics.chiSquareGoodnessOfFit(observed: [2_100, 2_950, 4_950], shares: [0.2, 0.3, 0.5]))
        #expect(close(three.p, 0.042143843509276406, tolerance: 1e-9))

        let experiment = Self.experiment(weights: [1, 1])
        func totals(_ counts: [Int]) -> [String: VariantTotals] {
            var result: [String: VariantTotals] = [:]
            for (id, count) in zip(["a", "b"], counts) {
                var total = VariantTotals()
                for _ in 0..<count { total.add(OutcomeEvent.sample(status: 200, latency: 100)) }
                result[id] = total
            }
            return result
        }
        #expect(ExperimentResults(experiment: experiment, totals: totals([5_040, 4_960])).trustworthy)
        let skewedResults = ExperimentResults(experiment: experiment, totals: totals([5_300, 4_700]))
        #expect(!skewedResults.trustworthy)
        #expect(skewedResults.summary.contains("not trustworthy"))
        #expect(skewedResults.variants[1].comparisons.allSatisfy { !$0.significant && $0.verdict.contains("not trustworthy") })
    }

    static func experiment(weights: [Double], minSamples: Int = 100) -> Experiment {
        Experiment(
            id: "e-test", name: "test", model: "chat", minSamples: minSamples,
            variants: weights.enumerated().map { index, weight in
                Experiment.Variant(id: ["a", "b", "c"][index], name: ["a", "b", "c"][index], target: .version("v\(index + 1)"), weight: weight)
            }, control: "a", now: 0)
    }

    @Test func verdictsSayWhichVariantIsWorseOnlyWithEnoughEvidence() {
        let experiment = Self.experiment(weights: [1, 1], minSamples: 100)
        func totals(requests: Int, errorEvery: Int?, latency: (Int) -> Double) -> VariantTotals {
            var total = VariantTotals()
            for index in 0..<requests {
                let failed = errorEvery.map { index % $0 == 0 } ?? false
                total.add(OutcomeEvent.sample(status: failed ? 502 : 200, latency: latency(index)))
            }
            return total
        }
        // Below min_samples: numbers, no verdict.
        let early = ExperimentResults(
            experiment: experiment,
            totals: [
                "a": totals(requests: 40, errorEvery: nil) { 100 + Double($0 % 7) },
                "b": totals(requests: 40, errorEvery: 4) { 300 + Double($0 % 7) },
            ])
        #expect(early.variants[1].comparisons.allSatisfy { !$0.significant && $0.verdict.hasPrefix("no verdict yet") })
        #expect(early.summary.hasPrefix("No verdict yet"))

        let later = ExperimentResults(
            experiment: experiment,
            totals: [
                "a": totals(requests: 400, errorEvery: nil) { 100 + Double($0 % 7) },
                "b": totals(requests: 400, errorEvery: 4) { 300 + Double($0 % 7) },
            ])
        let comparisons = Dictionary(uniqueKeysWithValues: later.variants[1].comparisons.map { ($0.metric, $0) })
        #expect(comparisons["success_rate"]?.significant == true)
        #expect(comparisons["success_rate"]?.verdict.hasPrefix("b is worse on success rate than a, p < 0.001") == true)
        #expect(comparisons["latency_ms"]?.verdict.hasPrefix("b is worse on latency") == true)
        #expect(later.variants[1].successRate == 0.75)
        #expect(later.variants[0].comparisons.isEmpty)

        // Same error rate and latency distribution: not significant, with an honest "no significant difference".
        let same = ExperimentResults(
            experiment: experiment,
            totals: [
                "a": totals(requests: 400, errorEvery: 10) { 100 + Double($0 % 7) },
                "b": totals(requests: 400, errorEvery: 10) { 100 + Double(($0 + 3) % 7) },
            ])
        let success = same.variants[1].comparisons[0]
        #expect(!success.significant)
        #expect(success.verdict.hasPrefix("no significant difference"))
        #expect(same.summary == "No significant difference yet.")
    }

    @Test func smallButRealDifferencesSayHowManyMoreRequestsAreNeeded() throws {
        let experiment = Self.experiment(weights: [1, 1], minSamples: 100)
        var a = VariantTotals()
        var b = VariantTotals()
        for index in 0..<200 {
            a.add(OutcomeEvent.sample(status: index % 10 == 0 ? 500 : 200, latency: 100))
            b.add(OutcomeEvent.sample(status: index % 8 == 0 ? 500 : 200, latency: 100))
        }
        let comparison = try #require(ExperimentResults(experiment: experiment, totals: ["a": a, "b": b]).variants[1].comparisons.first)
        #expect(!comparison.significant)
        // 10 % vs 12.5 % errors: (1.96 + 0.84)² (0.09 + 0.109375) / 0.025² ≈ 2 501 per variant, 200 already seen.
        let more = try #require(comparison.moreRequestsNeeded)
        #expect((2_290...2_310).contains(more))
        #expect(comparison.verdict.contains("about \(more) more requests per variant needed"))
    }
}

@Suite struct ExperimentAssignmentTests {
    @Test func variantsOwnCumulativeRangesByNormalizedWeight() {
        let experiment = ExperimentStatisticsTests.experiment(weights: [1, 3])
        let active = ActiveExperiment(experiment)
        #expect(active.upperBuckets == [2_500, 10_000])
        #expect(active.variantIndex(forBucket: 0) == 0)
        #expect(active.variantIndex(forBucket: 2_499) == 0)
        #expect(active.variantIndex(forBucket: 2_500) == 1)
        #expect(active.variantIndex(forBucket: 9_999) == 1)
    }

    @Test func consistentHashUsesTheExperimentsSeedAndIsStable() {
        var experiment = ExperimentStatisticsTests.experiment(weights: [1, 1])
        var random = SplitMix64(seed: 1)
        let active = ActiveExperiment(experiment)
        for user in ["alice", "bob", "carol", "dave"] {
            let first = active.assign(key: user, using: &random)
            // A restart rebuilds the same value from the stored experiment: no state is needed.
            let again = ActiveExperiment(experiment).assign(key: user, using: &random)
            #expect(first == again)
            #expect(first.bucket == StickyHash.bucket(seed: "e-test", key: user))
            #expect(first.sticky)
        }
        experiment.hashSeed = "other-seed"
        #expect(ActiveExperiment(experiment).assign(key: "alice", using: &random).bucket == StickyHash.bucket(seed: "other-seed", key: "alice"))
    }

    @Test func weightedRandomDrawsFollowTheWeights() {
        var experiment = ExperimentStatisticsTests.experiment(weights: [1, 3])
        experiment.strategy = .weightedRandom
        let active = ActiveExperiment(experiment)
        var random = SplitMix64(seed: 7)
        let draws = (0..<20_000).map { _ in active.assign(key: "same-user", using: &random) }
        let inB = draws.filter { $0.variantID == "b" }.count
        #expect((14_600...15_400).contains(inB))
        #expect(draws.allSatisfy { !$0.sticky })
    }

    @Test func lifecycleAllowsOnlyItsTransitions() throws {
        var experiment = ExperimentStatisticsTests.experiment(weights: [1, 1])
        #expect(throws: ReleaseError.self) { try experiment.apply(.pause, now: 1) }
        #expect(throws: ReleaseError.self) { try experiment.apply(.complete, now: 1) }
        try experiment.apply(.start, now: 1)
        #expect(experiment.status == .running && experiment.startedAt == 1)
        #expect(throws: ReleaseError.self) { try experiment.apply(.start, now: 2) }
        try experiment.apply(.pause, now: 2)
        try experiment.apply(.start, now: 3)
        #expect(experiment.startedAt == 1)
        try experiment.apply(.complete, now: 4)
        #expect(experiment.status == .completed && experiment.completedAt == 4)
        for transition in Experiment.Transition.allCases {
            #expect(throws: ReleaseError.self) { try experiment.apply(transition, now: 5) }
        }
    }

    @Test func schedulesStartAndCompleteByThemselves() {
        var experiment = ExperimentStatisticsTests.experiment(weights: [1, 1])
        experiment.startTime = 100
        experiment.endTime = 200
        #expect(experiment.scheduledTransition(now: 99) == nil)
        #expect(experiment.scheduledTransition(now: 100) == .start)
        experiment.status = .running
        #expect(experiment.scheduledTransition(now: 150) == nil)
        #expect(experiment.scheduledTransition(now: 200) == .complete)
    }

    @Test func requestsAreValidatedWithTheFieldNamed() {
        func problems(_ body: String) -> [String] {
            let errors = ErrorCollector()
            let json = try! JSONValue.parse(Array(body.utf8))
            let table = TableReader(path: "", values: json.objectValue!.mapValues(TOMLNode.init(json:)), errors: errors)
            _ = ExperimentRequest.read(from: table)
            return errors.errors.map(\.key)
        }
        #expect(problems(#"{"name":"x","model":"chat","variants":[{"id":"a","version":"v1"}],"control":"a"}"#) == ["variants"])
        #expect(
            problems(#"{"name":"x","model":"chat","variants":[{"id":"a","version":"v1"},{"id":"a","version":"v2"}],"control":"a"}"#)
                == ["variants[1].id"])
        #expect(
            problems(#"{"name":"x","model":"chat","variants":[{"id":"a","version":"v1"},{"id":"b","version":"v2","model":"m"}],"control":"a"}"#)
                == ["variants[1].model"])
        #expect(
            problems(#"{"name":"x","model":"chat","variants":[{"id":"a","version":"v1","weight":0},{"id":"b","version":"v2"}],"control":"a"}"#)
                == ["variants[0].weight"])
        #expect(
            problems(#"{"name":"x","model":"chat","variants":[{"id":"a","version":"v1"},{"id":"b","version":"v2"}],"control":"z"}"#) == ["control"])
        #expect(
            problems(#"{"name":"x","model":"chat","variants":[{"id":"a","version":"v1"},{"id":"b","version":"v2"}],"control":"a","colour":1}"#)
                == ["colour"])
        #expect(problems(#"{"name":"x","model":"chat","variants":[{"id":"a","version":"v1"},{"id":"b","version":"v2"}],"control":"a"}"#).isEmpty)
    }
}

extension OutcomeEvent {
    static func sample(status: Int, latency: Double, cost: Double = 0.001) -> OutcomeEvent {
        OutcomeEvent(
            time: 0, requestID: "r", userID: "u", model: "chat", version: "v1", backend: "p/m", endpoint: "chat.completions", status: status,
            stream: false, latencyMilliseconds: latency, inputTokens: 10, outputTokens: 20, costUSD: cost)
    }
}
