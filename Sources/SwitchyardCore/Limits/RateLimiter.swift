/// A user's request and token limits: `rate_limit = { requests_per_minute, requests_per_hour, tokens_per_minute }`.
package struct RateLimitSpec: Sendable, Hashable, Codable {
    package var requestsPerMinute: Int?
    package var requestsPerHour: Int?
    package var tokensPerMinute: Int?

    package init(requestsPerMinute: Int? = nil, requestsPerHour: Int? = nil, tokensPerMinute: Int? = nil) {
        self.requestsPerMinute = requestsPerMinute
        self.requestsPerHour = requestsPerHour
        self.tokensPerMinute = tokensPerMinute
    }

    static func read(from table: TableReader) -> RateLimitSpec {
        let spec = RateLimitSpec(
            requestsPerMinute: table.integer("requests_per_minute", in: 1...100_000_000),
            requestsPerHour: table.integer("requests_per_hour", in: 1...100_000_000),
            tokensPerMinute: table.integer("tokens_per_minute", in: 1...1_000_000_000_000))
        table.rejectUnknownKeys()
        return spec
    }
}

/// Sliding-window limits for one user: no 60-second span admits more requests (or tokens) than
/// the per-minute limits, no hour more than the per-hour one. Exact: every admission is logged with
/// its time. Tokens are estimated at admission and corrected once the answer's usage is known.
/// Pure: time is passed in.
package struct RateLimiter: Sendable {
    package struct Decision: Sendable, Equatable {
        package var allowed: Bool
        /// Seconds until the request would be admitted; 0 when allowed.
        package var retryAfter: Double
        /// Which limit refused it (`requests_per_minute`, …).
        package var limit: String?
        package var requestLimit: Int?
        package var remainingRequests: Int?
        /// Seconds until the per-minute request window has room again.
        package var requestsResetSeconds: Double
        package var tokenLimit: Int?
        package var remainingTokens: Int?
        package var tokensResetSeconds: Double
        /// Identifies the admission, to correct its tokens later.
        package var ticket: Int?

        /// Admitted, with no limit to report.
        package static let unlimited = Decision(
            allowed: true, retryAfter: 0, limit: nil, requestLimit: nil, remainingRequests: nil, requestsResetSeconds: 0, tokenLimit: nil,
            remainingTokens: nil, tokensResetSeconds: 0, ticket: nil)
    }

    private struct Entry {
        var ticket: Int
        var time: Double
        var tokens: Int
    }

    package let spec: RateLimitSpec
    /// Admissions of the last hour, oldest first.
    private var entries: [Entry] = []
    private var head = 0
    private var nextTicket = 0

    package init(spec: RateLimitSpec) {
        self.spec = spec
    }

    private mutating func forget(before cutoff: Double) {
        while head < entries.count && entries[head].time <= cutoff { head += 1 }
        if head > 1_024 && head * 2 > entries.count {
            entries.removeFirst(head)
            head = 0
        }
    }

    /// Admits one request estimated at `tokens` tokens, or says how long to wait.
    package mutating func admit(now: Double, tokens: Int) -> Decision {
        forget(before: now - 3_600)
        let live = entries[head...]
        let lastMinute = live.drop { $0.time <= now - 60 }
        let minuteRequests = lastMinute.count
        let minuteTokens = lastMinute.reduce(0) { $0 + $1.tokens }
        var waits: [(String, Double)] = []
        if let limit = spec.requestsPerMinute, minuteRequests >= limit {
            waits.append(("requests_per_minute", lastMinute[lastMinute.startIndex + (minuteRequests - limit)].time + 60 - now))
        }
        if let limit = spec.requestsPerHour, live.count >= limit {
            waits.append(("requests_per_hour", live[live.startIndex + (live.count - limit)].time + 3_600 - now))
        }
        if let limit = spec.tokensPerMinute, minuteTokens + tokens > limit, minuteTokens > 0 {
            // Wait until enough of the last minute's tokens have left the window.
            var freed = 0
            var wait = 60.0
            for entry in lastMinute {
                freed += entry.tokens
                if minuteTokens - freed + tokens <= limit || freed == minuteTokens {
                    wait = entry.time + 60 - now
                    break
                }
            }
            waits.append(("tokens_per_minute", wait))
        }
        // The window frees its oldest slot 60 s after that admission (this one, when it is the first).
        let oldest = lastMinute.first?.time ?? (waits.isEmpty ? now : nil)
        let resetRequests = oldest.map { $0 + 60 - now } ?? 0
        var decision = Decision(
            allowed: waits.isEmpty, retryAfter: 0, limit: nil, requestLimit: spec.requestsPerMinute,
            remainingRequests: spec.requestsPerMinute.map { max(0, $0 - minuteRequests - (waits.isEmpty ? 1 : 0)) },
            requestsResetSeconds: max(0, resetRequests), tokenLimit: spec.tokensPerMinute,
            remainingTokens: spec.tokensPerMinute.map { max(0, $0 - minuteTokens - (waits.isEmpty ? tokens : 0)) },
            tokensResetSeconds: max(0, resetRequests), ticket: nil)
        if let longest = waits.max(by: { $0.1 < $1.1 }) {
            decision.retryAfter = max(0.001, longest.1)
            decision.limit = longest.0
            return decision
        }
        nextTicket += 1
        entries.append(Entry(ticket: nextTicket, time: now, tokens: tokens))
        decision.ticket = nextTicket
        return decision
    }

    /// The rate-limit decision a shared admission stands for, in the numbers of the headers. A
    /// refusal by a budget is the budget's to report; here it only says "not allowed".
    package static func decision(of admission: SharedAdmission, spec: RateLimitSpec, estimatedTokens: Int) -> Decision {
        var decision = Decision(
            allowed: admission.admitted, retryAfter: 0, limit: nil, requestLimit: spec.requestsPerMinute,
            remainingRequests: spec.requestsPerMinute.map { max(0, $0 - admission.minuteRequests) },
            requestsResetSeconds: max(0, admission.requestsResetSeconds), tokenLimit: spec.tokensPerMinute,
            remainingTokens: spec.tokensPerMinute.map { max(0, $0 - admission.minuteTokens - (admission.admitted ? estimatedTokens : 0)) },
            tokensResetSeconds: max(0, admission.tokensResetSeconds), ticket: nil)
        if let refusal = admission.refusal {
            decision.retryAfter = max(0.001, admission.retryAfter)
            decision.limit = refusal.rawValue
        }
        return decision
    }

    /// Replaces an admission's estimated tokens by what the answer used.
    package mutating func correct(ticket: Int, tokens: Int) {
        guard let index = entries[head...].lastIndex(where: { $0.ticket == ticket }) else { return }
        entries[index].tokens = tokens
    }
}
