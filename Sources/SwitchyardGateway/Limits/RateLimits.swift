import Foundation
import HTTPTypes
import Logging
import NIOCore
import SwitchyardCore
import Synchronization

/// Every user's rate limiter, behind one lock so that concurrent admissions are exact. As an
/// outcome sink in the chain it corrects each admission's estimated tokens with the real usage.
///
/// With several instances on one database (`shared`), the per-minute and per-hour request limits
/// are counted there instead, exactly across instances; tokens per minute stay counted here. While
/// the database cannot be reached, each instance counts request limits on its own again.
package final class RateLimits: OutcomeSink {
    private let limiters = Mutex<[String: RateLimiter]>([:])
    private let next: any OutcomeSink
    private let shared: (any SharedRequestLimits)?
    /// Until when the shared limits are not asked after a failure: each request would wait for the
    /// database's deadline while it is away.
    private let sharedPausedUntil = Mutex(0.0)
    private let logger: Logger
    static let sharedPauseSeconds = 5.0

    package init(forwardingTo next: any OutcomeSink, shared: (any SharedRequestLimits)? = nil, logger: Logger = Logger(label: "switchyard")) {
        self.next = next
        self.shared = shared
        self.logger = logger
    }

    /// Whether `user`'s request limits are counted in the shared database (one round trip per request).
    package func sharesRequestLimits(of user: UserSpec) -> Bool {
        shared != nil && (user.rateLimit?.requestsPerMinute != nil || user.rateLimit?.requestsPerHour != nil)
    }

    /// Admits a request of `user` estimated at `tokens`; `nil` when the user has no limits. When its
    /// request limits are shared, only its token limit is decided here (`nil` without one), and
    /// `admitShared` decides the rest.
    package func admit(_ user: UserSpec, tokens: Int, now: Double = Date().timeIntervalSince1970) -> RateLimiter.Decision? {
        guard var spec = user.rateLimit else { return nil }
        if sharesRequestLimits(of: user) {
            guard spec.tokensPerMinute != nil else { return nil }
            spec.requestsPerMinute = nil
            spec.requestsPerHour = nil
        }
        return admit(key: user.id, spec: spec, now: now, tokens: tokens)
    }

    private func admit(key: String, spec: RateLimitSpec, now: Double, tokens: Int) -> RateLimiter.Decision {
        limiters.withLock { limiters in
            if limiters[key]?.spec != spec { limiters[key] = RateLimiter(spec: spec) }
            return limiters[key]!.admit(now: now, tokens: tokens)
        }
    }

    /// Counts one request of `user` against its request limits in the shared database; the result
    /// arrives on `loop`.
    func admitShared(_ user: UserSpec, on loop: any EventLoop) -> EventLoopFuture<SharedAdmission> {
        let promise = loop.makePromise(of: SharedAdmission.self)
        guard let shared, let spec = user.rateLimit, sharedPausedUntil.withLock({ $0 }) <= Date().timeIntervalSince1970 else {
            promise.fail(SharedLimitsUnavailable())
            return promise.futureResult
        }
        let id = user.id
        promise.completeWithTask {
            try await shared.admit(user: id, requestsPerMinute: spec.requestsPerMinute, requestsPerHour: spec.requestsPerHour)
        }
        return promise.futureResult
    }

    /// The request-limit decision of a shared admission, with the token numbers of this instance's
    /// own `tokens` decision; when the database could not answer, this instance decides alone.
    func decision(of result: Result<SharedAdmission, any Error>, for user: UserSpec, tokens: RateLimiter.Decision?) -> RateLimiter.Decision {
        guard let spec = user.rateLimit else { return tokens ?? RateLimiter.Decision.unlimited }
        var decision: RateLimiter.Decision
        switch result {
        case .success(let admission):
            decision = RateLimiter.decision(of: admission, spec: spec)
        case .failure(let error):
            if !(error is SharedLimitsUnavailable) {
                sharedPausedUntil.withLock { $0 = Date().timeIntervalSince1970 + Self.sharedPauseSeconds }
                logger.warning(
                    "shared rate limits unavailable: counted on this instance for \(Int(Self.sharedPauseSeconds)) s",
                    metadata: ["user": .string(user.id), "error": "\(error)"])
            }
            let requestsOnly = RateLimitSpec(requestsPerMinute: spec.requestsPerMinute, requestsPerHour: spec.requestsPerHour)
            decision = admit(key: user.id + "\u{0}requests", spec: requestsOnly, now: Date().timeIntervalSince1970, tokens: 0)
            decision.ticket = nil
        }
        if let tokens {
            decision.tokenLimit = tokens.tokenLimit
            decision.remainingTokens = tokens.remainingTokens
            decision.tokensResetSeconds = tokens.tokensResetSeconds
            decision.ticket = tokens.ticket
        }
        return decision
    }

    /// Gives back the tokens an admission reserved when the request goes no further.
    func release(_ admission: RateLimiter.Decision?, of user: UserSpec) {
        guard let ticket = admission?.ticket else { return }
        limiters.withLock { $0[user.id]?.correct(ticket: ticket, tokens: 0) }
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

/// The shared request limits are not asked: none are configured, or they failed a moment ago.
struct SharedLimitsUnavailable: Error {}
