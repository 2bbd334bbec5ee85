import Testing

@testable import SwitchyardCore

@Suite struct StickyHashTests {
    @Test(arguments: [
        ("seed", "a", 505),
        // Derived by hand from the definition (FNV-1a 32 over UTF-8, inner hash as decimal text):
        ("chat", "alice", 874), ("chat", "bob", 2_706), ("", "", 2_305), ("model", "ü-user", 741),
    ])
    func bucketsFollowGrowthBookHashVersionTwo(seed: String, key: String, bucket: Int) {
        #expect(StickyHash.bucket(seed: seed, key: key) == bucket)
    }

    @Test func fnv1a32MatchesTheReferenceValues() {
        #expect(StickyHash.fnv1a32("") == 0x811c_9dc5)
        #expect(StickyHash.fnv1a32("a") == 0xe40c_292c)
        #expect(StickyHash.fnv1a32("foobar") == 0xbf9c_f968)
    }

    @Test func raisingTheCanaryShareOnlyMovesUsersIntoIt() {
        var random = SplitMix64(seed: 99)
        let users = (0..<3_000).map { "user-\($0)-\(UInt32.random(in: 0...UInt32.max, using: &random))" }
        for _ in 0..<30 {
            // A random increasing share sequence for the canary (last); stable (first) and a middle version give way.
            var canary = 0
            var middle = Int.random(in: 0...2_000, using: &random)
            var inCanary: Set<String> = []
            while canary < 10_000 - middle {
                canary = min(10_000 - middle, canary + Int.random(in: 1...1_500, using: &random))
                if (Bool.random(using: &random) || canary == 10_000 - middle) && middle > 0 {
                    let moved = canary == 10_000 - middle ? middle : Int.random(in: 0...middle, using: &random)
                    middle -= moved
                    canary += moved
                }
                let split = ReleaseSplit(weights: [10_000 - middle - canary, middle, canary])
                var nowInCanary: Set<String> = []
                for user in users where split.versionIndex(forBucket: StickyHash.bucket(seed: "chat", key: user)) == 2 {
                    nowInCanary.insert(user)
                }
                #expect(inCanary.isSubset(of: nowInCanary), "a user left the canary while its share grew")
                inCanary = nowInCanary
            }
            #expect(inCanary.count == users.count)
        }
    }

    @Test func bucketsSpreadEvenly() {
        var counts = Array(repeating: 0, count: 10)
        for index in 0..<50_000 {
            counts[StickyHash.bucket(seed: "chat", key: "user-\(index)") / 1_000] += 1
        }
        for count in counts { #expect(abs(count - 5_000) < 300) }
    }
}

@Suite struct RolloutTests {
    static func rollout(steps: [RolloutStep], analysis: RolloutAnalysis = .standard) -> Rollout {
        Rollout(id: "r1", model: "chat", canary: "v2", stable: "v1", steps: steps, analysis: analysis, now: 0)
    }

    static let healthy = VersionWindow(requests: 200, errors: 2, p95LatencyMilliseconds: 100)
    static let broken = VersionWindow(requests: 200, errors: 60, p95LatencyMilliseconds: 100)
    static let stable = VersionWindow(requests: 2_000, errors: 20, p95LatencyMilliseconds: 100)
    static let tiny = VersionWindow(requests: 3, errors: 0)

    @Test func weightsApplyAtOnceAndTimedPausesWaitForTimeAndAPass() {
        var rollout = Self.rollout(steps: [.setWeight(basisPoints: 100), .pause(seconds: 60), .setWeight(basisPoints: 2_500), .pause(seconds: nil)])
        #expect(rollout.advance(now: 0) == [.setCanaryWeight(basisPoints: 100)])
        #expect(rollout.state == .paused && rollout.reason == "step")
        #expect(rollout.advance(now: 59) == [])
        #expect(rollout.advance(now: 61) == [], "time is up but nothing was judged yet")
        #expect(rollout.reason == "insufficient_data")
        #expect(rollout.evaluate(now: 62, canary: Self.healthy, stable: Self.stable) == [.setCanaryWeight(basisPoints: 2_500)])
        #expect(rollout.currentStep == 3 && rollout.state == .paused && rollout.reason == "step", "an open pause waits for promote")
        #expect(rollout.promote(full: false, now: 70) == [.promote])
        #expect(rollout.state == .promoted && rollout.canaryWeightBasisPoints == 10_000)
    }

    @Test func tooLittleDataPausesAndNeverAbortsOrPromotes() {
        var rollout = Self.rollout(steps: [.setWeight(basisPoints: 500), .pause(seconds: 10)])
        _ = rollout.advance(now: 0)
        for tick in 1...20 {
            #expect(rollout.evaluate(now: Double(tick * 30), canary: Self.tiny, stable: Self.tiny) == [])
            #expect(rollout.advance(now: Double(tick * 30)) == [])
        }
        #expect(rollout.state == .paused && rollout.reason == "insufficient_data")
        #expect(rollout.evaluations.last?.result == "insufficient_data")
        #expect(rollout.evaluations.last?.decision.contains("3 canary and 3 stable requests, 50 needed") == true)
        #expect(rollout.evaluate(now: 700, canary: Self.healthy, stable: Self.stable) == [.promote], "data arrives: the pause ends")
    }

    @Test func aWorseCanaryIsAbortedAfterTheFailureLimitWithTheMeasuredValues() {
        var rollout = Self.rollout(steps: [.setWeight(basisPoints: 100), .pause(seconds: nil)])
        _ = rollout.advance(now: 0)
        #expect(rollout.evaluate(now: 30, canary: Self.broken, stable: Self.stable) == [])
        #expect(rollout.consecutiveFailures == 1)
        #expect(rollout.evaluate(now: 60, canary: Self.broken, stable: Self.stable) == [.abort])
        #expect(rollout.state == .aborted && rollout.canaryWeightBasisPoints == 0)
        #expect(rollout.reason == "analysis failed 2 times in a row: max_error_rate_increase")
        let check = rollout.evaluations.last!.checks[0]
        #expect(abs(check.measured! - 0.29) < 1e-9 && check.threshold == 0.05 && check.pValue! < 0.001)
        #expect(rollout.evaluate(now: 90, canary: Self.healthy, stable: Self.stable) == [], "finished rollouts stay finished")
    }

    @Test func aPassResetsTheFailureCount() {
        var rollout = Self.rollout(steps: [.setWeight(basisPoints: 100), .pause(seconds: nil)])
        _ = rollout.advance(now: 0)
        _ = rollout.evaluate(now: 30, canary: Self.broken, stable: Self.stable)
        _ = rollout.evaluate(now: 60, canary: Self.healthy, stable: Self.stable)
        _ = rollout.evaluate(now: 90, canary: Self.broken, stable: Self.stable)
        #expect(rollout.state == .paused && rollout.consecutiveFailures == 1)
    }

    @Test func absoluteLimitsAndLatencyRatioAreJudged() {
        var analysis = RolloutAnalysis()
        analysis.maxErrorRate = 0.05
        analysis.maxP95LatencyMilliseconds = 500
        analysis.maxLatencyRatio = 1.5
        analysis.failureLimit = 1
        let slow = VersionWindow(requests: 200, errors: 1, p95LatencyMilliseconds: 400)
        let checks = Rollout.checks(analysis, canary: slow, stable: Self.stable)
        #expect(checks.map(\.name) == ["max_error_rate", "max_p95_latency_ms", "max_latency_ratio"])
        #expect(checks.map(\.passed) == [true, true, false])
        var rollout = Self.rollout(steps: [.setWeight(basisPoints: 1), .pause(seconds: nil)], analysis: analysis)
        _ = rollout.advance(now: 0)
        #expect(rollout.evaluate(now: 30, canary: slow, stable: Self.stable) == [.abort])
    }

    @Test func manualControlAtAnyTime() {
        var rollout = Self.rollout(steps: [.setWeight(basisPoints: 100), .pause(seconds: 600), .setWeight(basisPoints: 5_000), .pause(seconds: nil)])
        _ = rollout.advance(now: 0)
        rollout.pause(now: 5)
        #expect(rollout.state == .paused && rollout.reason == "manual")
        #expect(rollout.evaluate(now: 30, canary: Self.broken, stable: Self.stable) == [], "a manual pause is not judged")
        #expect(rollout.advance(now: 700) == [], "nor does it move on")
        #expect(rollout.abort(reason: "operator: wrong prompt", now: 40) == [.abort])
        #expect(rollout.state == .aborted && rollout.reason == "operator: wrong prompt")

        var other = Self.rollout(steps: [.setWeight(basisPoints: 100), .pause(seconds: 600), .setWeight(basisPoints: 5_000), .pause(seconds: nil)])
        _ = other.advance(now: 0)
        #expect(other.promote(full: true, now: 1) == [.promote])
        #expect(other.state == .promoted)
    }

    @Test func pValuesFollowTheNormalApproximation() {
        #expect(abs(Statistics.normalCDF(0) - 0.5) < 1e-12)
        #expect(abs(Statistics.normalCDF(1.959963985) - 0.975) < 1e-6)
        // Equal rates: no evidence of an increase.
        #expect(Statistics.errorRateIncreasePValue(canaryErrors: 10, canaryRequests: 100, stableErrors: 100, stableRequests: 1_000, margin: 0) == 0.5)
        #expect(Statistics.percentile([5, 1, 3, 2, 4], 0.95) == 5)
        #expect(Statistics.percentile([], 0.5) == nil)
    }
}
