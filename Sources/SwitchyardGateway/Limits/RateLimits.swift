import Foundation
import HTTPTypes
import SwitchyardCore
import Synchronization

/// Every user's rate limiter, behind one lock so that concurrent admissions are exact. As an
/// outcome sink in the chain it corrects each admission's estimated tokens with the real usage.
package final class RateLimits: OutcomeSink {
    private let limiters = Mutex<[String: RateLimiter]>([:])
    private let next: any OutcomeSink

    package init(forwardingTo next: any OutcomeSink) {
        self.next = next
    }

    /// Admits a request of `user` estimated at `tokens`; `nil` when the user has no limits.
    package func admit(_ user: UserSpec, tokens: Int, now: Double = Date().timeIntervalSince1970) -> RateLimiter.Decision? {
        guard let spec = user.rateLimit else { return nil }
        return limiters.withLock { limiters in
            if limiters[user.id]?.spec != spec { limiters[user.id] = RateLimiter(spec: spec) }
            return limiters[user.id]!.admit(now: now, tokens: tokens)
        }
    }

    package func record(_ event: OutcomeEvent) {
        if let ticket = event.rateLimitTicket {
            let used = event.inputTokens + event.outputTokens
            limiters.withLock { $0[event.userID]?.correct(ticket: ticket, tokens: used) }
        }
        next.record(event)
    }

    /// OpenAI's rate-limit headers for a decision.
    static func headers(for decision: RateLimiter.Decision) -> HTTPFields {
        var fields = HTTPFields()
        if let limit = decision.requestLimit, let remaining = decision.remainingRequests {
            fields[HTTPField.Name("x-ratelimit-limit-requests")!] = String(limit)
            fields[HTTPField.Name("x-ratelimit-remaining-requests")!] = String(remaining)
            fields[HTTPField.Name("x-ratelimit-reset-requests")!] = duration(decision.requestsResetSeconds)
        }
        if let limit = decision.tokenLimit, let remaining = decision.remainingTokens {
            fields[HTTPField.Name("x-ratelimit-limit-tokens")!] = String(limit)
            fields[HTTPField.Name("x-ratelimit-remaining-tokens")!] = String(remaining)
            fields[HTTPField.Name("x-ratelimit-reset-tokens")!] = duration(decision.tokensResetSeconds)
        }
        if !decision.allowed {
            fields[.retryAfter] = String(Int(decision.retryAfter.rounded(.up)))
        }
        return fields
    }

    /// `"1s"`, `"6m0s"`, `"250ms"`: the form OpenAI uses.
    static func duration(_ seconds: Double) -> String {
        if seconds < 1 { return "\(Int((seconds * 1000).rounded()))ms" }
        let whole = Int(seconds.rounded(.up))
        return whole >= 60 ? "\(whole / 60)m\(whole % 60)s" : "\(whole)s"
    }

    static func error(for decision: RateLimiter.Decision) -> GatewayError {
        let which = (decision.limit ?? "requests").replacingOccurrences(of: "_", with: " ")
        return GatewayError(
            status: .tooManyRequests,
            message: "Rate limit reached (\(which)). Try again in \(Int(decision.retryAfter.rounded(.up))) s.",
            type: decision.limit == "tokens_per_minute" ? "tokens" : "requests", code: .rateLimitExceeded
        ).adding(headers(for: decision))
    }
}
