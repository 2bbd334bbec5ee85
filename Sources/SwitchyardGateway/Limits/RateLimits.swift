import Foundation
import HTTPTypes
import Logging
import NIOCore
import SwitchyardCore
import Synchronization

/// Every user's rate limiter, behind one lock so that concurrent admissions are exact. As an
/// outcome sink in the chain it corrects each admission's estimated tokens with the real usage.
///
/// With several instances on one database (`shared`), the limits of users that have any (rate
/// limits or a budget) are decided there instead, across instances: request limits exactly, tokens
/// per minute and budgets against counters every instance adds to as its requests end. While the
/// database cannot be reached, each instance decides alone again.
package final class RateLimits: OutcomeSink {
    private let limiters = Mutex<[String: RateLimiter]>([:])
    private let budgets: Budgets
    private let shared: (any SharedLimits)?
    /// Until when the shared limits are not asked after a failure: each request would wait for the
    /// database's deadline while it is away.
    private let sharedPausedUntil = Mutex(0.0)
    private let logger: Logger
    static let sharedPauseSeconds = 5.0

    /// Forwards every outcome to `budgets`, which it also consults when deciding alone.
    package init(forwardingTo budgets: Budgets, shared: (any SharedLimits)? = nil, logger: Logger = Logger(label: "switchyard")) {
        self.budgets = budgets
        self.shared = shared
        self.logger = logger
    }

    /// Whether `user`'s limits are decided in the shared database (one round trip per request).
    package func sharesLimits(of user: UserSpec) -> Bool {
        guard shared != nil else { return false }
        if user.budget != nil { return true }
        guard let spec = user.rateLimit else { return false }
        return spec.requestsPerMinute != nil || spec.requestsPerHour != nil || spec.tokensPerMinute != nil
    }

    /// Admits a request of `user` estimated at `tokens` on this instance alone; `nil` when the user
    /// has no rate limits.
    package func admit(_ user: UserSpec, tokens: Int, now: Double = Date().timeIntervalSince1970) -> RateLimiter.Decision? {
        guard let spec = user.rateLimit else { return nil }
        return limiters.withLock { limiters in
            if limiters[user.id]?.spec != spec { limiters[user.id] = RateLimiter(spec: spec) }
            return limiters[user.id]!.admit(now: now, tokens: tokens)
        }
    }

    /// Asks the shared database to admit one request of `user` estimated at `tokens`; the answer
    /// arrives on `loop`.
    func admitShared(_ user: UserSpec, tokens: Int, on loop: any EventLoop) -> EventLoopFuture<SharedAdmission> {
        let promise = loop.makePromise(of: SharedAdmission.self)
        guard let shared, sharedPausedUntil.withLock({ $0 }) <= Date().timeIntervalSince1970 else {
            promise.fail(SharedLimitsUnavailable())
            return promise.futureResult
        }
        let request = SharedAdmissionRequest(
            user: user.id, rateLimit: user.rateLimit ?? RateLimitSpec(), budget: user.budget, estimatedTokens: tokens)
        promise.completeWithTask { try await shared.admit(request) }
        return promise.futureResult
    }

    /// The answer to the client for a shared admission: the rate-limit headers' numbers when
    /// admitted, the budget's or the limit's error when refused. When the database could not
    /// answer, this instance decides alone: its view of the budget, its own window.
    func verdict(of result: Result<SharedAdmission, any Error>, for user: UserSpec, tokens: Int) -> Result<RateLimiter.Decision, GatewayError> {
        let decision: RateLimiter.Decision
        switch result {
        case .success(let admission):
            if user.budget != nil {
                budgets.adopt(daySpendUSD: admission.daySpendUSD, monthSpendUSD: admission.monthSpendUSD, of: user.id, at: admission.now)
            }
            switch admission.refusal {
            case .dailyBudget:
                return .failure(Budgets.refusal(period: "daily", cap: user.budget?.dailyUSD ?? 0, spent: admission.daySpendUSD))
            case .monthlyBudget:
                return .failure(Budgets.refusal(period: "monthly", cap: user.budget?.monthlyUSD ?? 0, spent: admission.monthSpendUSD))
            default:
                decision = RateLimiter.decision(of: admission, spec: user.rateLimit ?? RateLimitSpec(), estimatedTokens: tokens)
            }
        case .failure(let error):
            if !(error is SharedLimitsUnavailable) {
                sharedPausedUntil.withLock { $0 = Date().timeIntervalSince1970 + Self.sharedPauseSeconds }
                logger.warning(
                    "shared limits unavailable: decided on this instance for \(Int(Self.sharedPauseSeconds)) s",
                    metadata: ["user": .string(user.id), "error": "\(error)"])
            }
            if let overBudget = budgets.check(user) { return .failure(overBudget) }
            decision = admit(user, tokens: tokens) ?? .unlimited
        }
        return decision.allowed ? .success(decision) : .failure(Self.error(for: decision))
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
        budgets.record(event)
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
