import Foundation

/// A user's spending caps in USD: `budget = { daily_usd, monthly_usd }` (UTC days and months).
package struct BudgetSpec: Sendable, Hashable, Codable {
    package var dailyUSD: Double?
    package var monthlyUSD: Double?

    package init(dailyUSD: Double? = nil, monthlyUSD: Double? = nil) {
        self.dailyUSD = dailyUSD
        self.monthlyUSD = monthlyUSD
    }

    static func read(from table: TableReader) -> BudgetSpec {
        let spec = BudgetSpec(
            dailyUSD: table.number("daily_usd", in: 0...1_000_000_000), monthlyUSD: table.number("monthly_usd", in: 0...1_000_000_000))
        table.rejectUnknownKeys()
        return spec
    }
}

/// The UTC day and month a moment falls in, and when they began.
package struct BudgetPeriods: Sendable, Hashable {
    package var dayStart: Double
    package var monthStart: Double

    package init(at time: Double) {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let date = Date(timeIntervalSince1970: time)
        dayStart = calendar.startOfDay(for: date).timeIntervalSince1970
        let month = calendar.dateComponents([.year, .month], from: date)
        monthStart = calendar.date(from: month)!.timeIntervalSince1970
    }
}

/// Recorded spend of one user in the current UTC day and month. Pure: time is passed in.
package struct Spend: Sendable, Hashable {
    package var periods: BudgetPeriods
    package var day: Double
    package var month: Double

    package init(periods: BudgetPeriods, day: Double = 0, month: Double = 0) {
        self.periods = periods
        self.day = day
        self.month = month
    }

    /// Adds a cost incurred at `time`, moving to a new day or month first when one began.
    package mutating func add(_ cost: Double, at time: Double) {
        roll(to: time)
        guard time >= periods.monthStart else { return }
        month += cost
        if time >= periods.dayStart { day += cost }
    }

    package mutating func roll(to time: Double) {
        // A UTC day is 86,400 s of Unix time: no calendar is needed to see that it has not ended.
        guard time >= periods.dayStart + 86_400 else { return }
        let now = BudgetPeriods(at: time)
        guard now.dayStart > periods.dayStart else { return }
        if now.monthStart > periods.monthStart { month = 0 }
        day = 0
        periods = now
    }

    /// Which cap the recorded spend has reached, if any.
    package func exceeded(_ budget: BudgetSpec) -> (period: String, cap: Double, spent: Double)? {
        if let cap = budget.dailyUSD, day >= cap { return ("daily", cap, day) }
        if let cap = budget.monthlyUSD, month >= cap { return ("monthly", cap, month) }
        return nil
    }
}
