import Foundation

/// The few statistics release decisions need.
package enum Statistics {
    /// The standard normal distribution's cumulative probability at `z`.
    package static func normalCDF(_ z: Double) -> Double {
        0.5 * erfc(-z / 2.0.squareRoot())
    }

    /// One-sided test that the canary's error rate exceeds the stable one's by more than `margin`:
    /// the p-value of z = (p₁ − p₂ − margin) / √(p₁(1−p₁)/n₁ + p₂(1−p₂)/n₂). A small p-value means the
    /// canary is worse by more than the margin. With no variance at all the difference decides (0 or 1).
    package static func errorRateIncreasePValue(
        canaryErrors: Int, canaryRequests: Int, stableErrors: Int, stableRequests: Int, margin: Double
    ) -> Double {
        guard canaryRequests > 0, stableRequests > 0 else { return 1 }
        let p1 = Double(canaryErrors) / Double(canaryRequests)
        let p2 = Double(stableErrors) / Double(stableRequests)
        let variance = p1 * (1 - p1) / Double(canaryRequests) + p2 * (1 - p2) / Double(stableRequests)
        let difference = p1 - p2 - margin
        guard variance > 0 else { return difference > 0 ? 0 : 1 }
        return 1 - normalCDF(difference / variance.squareRoot())
    }

    /// The nearest-rank percentile (0…1) of `values`; `nil` when empty.
    package static func percentile(_ values: [Double], _ share: Double) -> Double? {
        guard !values.isEmpty else { return nil }
        let sorted = values.sorted()
        let rank = max(1, Int((share * Double(sorted.count)).rounded(.up)))
        return sorted[min(rank, sorted.count) - 1]
    }
}
