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
        let spec = RateLimitSpec(requestsPerMinute: 3, requestsPerHour: 5, tokensPerMinute: 1_000)
        var local = RateLimiter(spec: spec)
        _ = local.admit(now: 950, tokens: 200)
        _ = local.admit(now: 990, tokens: 200)
        let localDecision = local.admit(now: 1_000, tokens: 100)
        // The same history on the shared database: the third of the minute, 400 tokens used before it.
        let admitted = SharedAdmission(minuteRequests: 3, requestsResetSeconds: 0, minuteTokens: 400, tokensResetSeconds: 0, now: 1_000)
        let shared = RateLimiter.decision(of: admitted, spec: spec, estimatedTokens: 100)
        #expect(shared.allowed && localDecision.allowed)
        #expect(shared.requestLimit == localDecision.requestLimit && shared.remainingRequests == localDecision.remainingRequests)
        #expect(shared.tokenLimit == localDecision.tokenLimit && shared.remainingTokens == localDecision.remainingTokens)
        #expect(shared.remainingRequests == 0 && shared.remainingTokens == 500 && shared.ticket == nil)
        // Refused: the limit that refused and when to retry; nothing of the request counted.
        let refused = RateLimiter.decision(
            of: SharedAdmission(refusal: .requestsPerHour, retryAfter: 2_700, minuteRequests: 2, minuteTokens: 400, now: 1_000), spec: spec,
            estimatedTokens: 100)
        #expect(!refused.allowed && refused.limit == "requests_per_hour" && refused.retryAfter == 2_700)
        #expect(refused.remainingRequests == 1 && refused.remainingTokens == 600)
    }
}
