import Testing

@testable import SwitchyardCore

@Suite struct RateLimiterTests {
    @Test func aPerMinuteLimitAdmitsExactlyThatManyAtOnce() {
        var limiter = RateLimiter(spec: RateLimitSpec(requestsPerMinute: 100))
        let decisions = (0..<300).map { _ in limiter.admit(now: 1_000, tokens: 10) }
        #expect(decisions.filter(\.allowed).count == 100)
        #expect(decisions[0].requestsResetSeconds == 60, "the first admission frees its slot a minute later")
        let refused = decisions.last!
        #expect(refused.limit == "requests_per_minute" && refused.remainingRequests == 0)
        #expect(abs(refused.retryAfter - 60) < 1e-9)
    }

    @Test func theWindowSlides() {
        var limiter = RateLimiter(spec: RateLimitSpec(requestsPerMinute: 3))
        for second in [0.0, 20, 40] { #expect(limiter.admit(now: second, tokens: 0).allowed) }
        let refused = limiter.admit(now: 59, tokens: 0)
        #expect(!refused.allowed && abs(refused.retryAfter - 1) < 1e-9, "the oldest leaves the window at 60 s")
        #expect(limiter.admit(now: 60.5, tokens: 0).allowed)
        #expect(!limiter.admit(now: 61, tokens: 0).allowed)
        // No 60-second span ever holds more than three admissions.
        var admitted: [Double] = [0, 20, 40, 60.5]
        for step in 0..<600 {
            let now = 61 + Double(step) * 0.7
            if limiter.admit(now: now, tokens: 0).allowed { admitted.append(now) }
        }
        for (index, time) in admitted.enumerated() {
            #expect(admitted[index...].prefix { $0 < time + 60 }.count <= 3)
        }
    }

    @Test func hourlyLimitsHoldToo() {
        var limiter = RateLimiter(spec: RateLimitSpec(requestsPerMinute: 1_000, requestsPerHour: 5))
        for minute in 0..<5 { #expect(limiter.admit(now: Double(minute) * 60, tokens: 0).allowed) }
        let refused = limiter.admit(now: 600, tokens: 0)
        #expect(refused.limit == "requests_per_hour" && abs(refused.retryAfter - 3_000) < 1e-9)
        #expect(limiter.admit(now: 3_601, tokens: 0).allowed)
    }

    @Test func tokensAreEstimatedThenCorrected() {
        var limiter = RateLimiter(spec: RateLimitSpec(tokensPerMinute: 1_000))
        let first = limiter.admit(now: 0, tokens: 900)
        #expect(first.allowed && first.remainingTokens == 100)
        #expect(!limiter.admit(now: 1, tokens: 500).allowed, "the estimate counts until the usage is known")
        limiter.correct(ticket: first.ticket!, tokens: 200)
        let second = limiter.admit(now: 2, tokens: 500)
        #expect(second.allowed && second.remainingTokens == 300)
        let refused = limiter.admit(now: 3, tokens: 600)
        #expect(refused.limit == "tokens_per_minute" && abs(refused.retryAfter - 59) < 1e-9, "both admissions must leave the window")
    }

    @Test func aSharedAdmissionIsReadLikeALocalOne() {
        let spec = RateLimitSpec(requestsPerMinute: 3, requestsPerHour: 5)
        // Admitted as the third of the minute: no room left, the window frees in 60 s from its oldest.
        let admitted = RateLimiter.decision(of: SharedAdmission(admitted: true, window: [900, 990, 995, 1_000], now: 1_000), spec: spec)
        #expect(admitted.allowed && admitted.remainingRequests == 0 && admitted.requestLimit == 3 && admitted.requestsResetSeconds == 50)
        // Refused by the minute: retry once the oldest of the minute's three leaves it.
        let perMinute = RateLimiter.decision(of: SharedAdmission(admitted: false, window: [950, 970, 980], now: 1_000), spec: spec)
        #expect(!perMinute.allowed && perMinute.limit == "requests_per_minute" && perMinute.retryAfter == 10)
        // Refused by the hour: five in the hour, two in the minute.
        let perHour = RateLimiter.decision(of: SharedAdmission(admitted: false, window: [100, 200, 300, 990, 995], now: 1_000), spec: spec)
        #expect(!perHour.allowed && perHour.limit == "requests_per_hour" && perHour.retryAfter == 2_700)
    }
}
