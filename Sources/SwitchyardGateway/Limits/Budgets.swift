import Foundation
import HTTPTypes
import SwitchyardCore
import Synchronization

/// Each user's recorded spend this UTC day and month, loaded from the outcome history at start and
/// kept current by the outcome chain (streams and client departures included). A request is
/// refused once the recorded spend of a period has reached its cap; one in flight when the cap is
/// crossed completes and is counted.
package final class Budgets: OutcomeSink {
    private let spend = Mutex<[String: Spend]>([:])
    private let next: any OutcomeSink

    package init(forwardingTo next: any OutcomeSink) {
        self.next = next
    }

    /// Reads this day's and month's spend from the recorded outcomes.
    package func load(from usage: any UsageRepository, now: Double = Date().timeIntervalSince1970) async throws {
        let periods = BudgetPeriods(at: now)
        let month = try await usage.spendByUser(since: periods.monthStart)
        let day = try await usage.spendByUser(since: periods.dayStart)
        spend.withLock { spend in
            for (user, cost) in month {
                spend[user] = Spend(periods: periods, day: day[user] ?? 0, month: cost)
            }
        }
    }

    package func record(_ event: OutcomeEvent) {
        // A shadow copy is the operator's experiment, not the user's spending.
        if event.costUSD > 0 && !event.shadow {
            spend.withLock { spend in
                spend[event.userID, default: Spend(periods: BudgetPeriods(at: event.time))].add(event.costUSD, at: event.time)
            }
        }
        next.record(event)
    }

    /// How many of `users` have spent at least `nearShare` of a daily or monthly cap (but not all of
    /// it), and how many have reached one (their requests are refused): `/metrics`, without user labels.
    package func standing(of users: some Sequence<UserSpec>, nearShare: Double = 0.8, now: Double = Date().timeIntervalSince1970) -> (
        near: Int, over: Int
    ) {
        spend.withLock { spend in
            var near = 0
            var over = 0
            for user in users {
                guard let budget = user.budget, var current = spend[user.id] else { continue }
                current.roll(to: now)
                if current.exceeded(budget) != nil {
                    over += 1
                } else if let cap = budget.dailyUSD, current.day >= cap * nearShare {
                    near += 1
                } else if let cap = budget.monthlyUSD, current.month >= cap * nearShare {
                    near += 1
                }
            }
            return (near, over)
        }
    }

    /// The refusal for a user over budget; `nil` when the user may spend.
    package func check(_ user: UserSpec, now: Double = Date().timeIntervalSince1970) -> GatewayError? {
        guard let budget = user.budget else { return nil }
        let exceeded = spend.withLock { spend -> (period: String, cap: Double, spent: Double)? in
            guard var current = spend[user.id] else { return nil }
            current.roll(to: now)
            spend[user.id] = current
            return current.exceeded(budget)
        }
        guard let exceeded else { return nil }
        return Self.refusal(period: exceeded.period, cap: exceeded.cap, spent: exceeded.spent)
    }

    /// Takes the spend the shared database recorded for `user` on every instance as this instance's
    /// view (for `/metrics`, and for deciding alone while the database is away).
    func adopt(daySpendUSD: Double, monthSpendUSD: Double, of user: String, at time: Double) {
        spend.withLock { spend in
            var current = spend[user] ?? Spend(periods: BudgetPeriods(at: time))
            current.roll(to: time)
            current.day = daySpendUSD
            current.month = monthSpendUSD
            spend[user] = current
        }
    }

    /// The refusal of a request whose user's spend has reached the cap of a `"daily"` or `"monthly"` period.
    static func refusal(period: String, cap: Double, spent: Double) -> GatewayError {
        GatewayError(
            status: .tooManyRequests,
            message: String(
                format: "You exceeded your %@ budget: %.4f of %.4f USD spent. It renews at the start of the next UTC %@.", period, spent, cap,
                period == "daily" ? "day" : "month"),
            type: "insufficient_quota", code: .insufficientQuota)
    }
}
