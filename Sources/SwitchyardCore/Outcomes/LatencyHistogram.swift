/// Counts of latencies in fixed millisecond buckets, mergeable across minutes and instances.
package struct LatencyHistogram: Sendable, Hashable, Codable {
    /// Inclusive upper bounds in milliseconds; one more bucket counts everything above the last.
    package static let upperBoundsMilliseconds: [Double] = [
        5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000,
    ]

    package private(set) var counts: [Int]

    package init() {
        counts = Array(repeating: 0, count: Self.upperBoundsMilliseconds.count + 1)
    }

    package init(counts: [Int]) {
        var histogram = LatencyHistogram()
        for (index, count) in counts.prefix(histogram.counts.count).enumerated() {
            histogram.counts[index] = count
        }
        self = histogram
    }

    package mutating func add(milliseconds: Double) {
        let index = Self.upperBoundsMilliseconds.firstIndex { milliseconds <= $0 } ?? Self.upperBoundsMilliseconds.count
        counts[index] += 1
    }

    package mutating func merge(_ other: LatencyHistogram) {
        for index in counts.indices {
            counts[index] += other.counts[index]
        }
    }

    package var total: Int { counts.reduce(0, +) }

    /// The upper bound of the bucket holding the given quantile (0…1); `nil` when empty.
    package func quantileUpperBound(_ quantile: Double) -> Double? {
        let total = self.total
        guard total > 0 else { return nil }
        let rank = max(1, Int((quantile * Double(total)).rounded(.up)))
        var seen = 0
        for (index, count) in counts.enumerated() {
            seen += count
            if seen >= rank {
                return index < Self.upperBoundsMilliseconds.count ? Self.upperBoundsMilliseconds[index] : .infinity
            }
        }
        return .infinity
    }

    /// The quantile (0…1) interpolated linearly inside the bucket that holds it; the overflow bucket
    /// reports the last bound. `nil` when empty.
    package func quantileEstimate(_ quantile: Double) -> Double? {
        let total = self.total
        guard total > 0 else { return nil }
        let rank = min(Double(total), max(0, quantile * Double(total)))
        var seen = 0
        for (index, count) in counts.enumerated() where count > 0 {
            if Double(seen + count) >= rank {
                guard index < Self.upperBoundsMilliseconds.count else { return Self.upperBoundsMilliseconds.last }
                let lower = index == 0 ? 0 : Self.upperBoundsMilliseconds[index - 1]
                let upper = Self.upperBoundsMilliseconds[index]
                return lower + (upper - lower) * (rank - Double(seen)) / Double(count)
            }
            seen += count
        }
        return Self.upperBoundsMilliseconds.last
    }
}
