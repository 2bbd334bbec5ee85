/// A model's traffic split over its versions, in basis points (0.01 %).
///
/// Each version owns a contiguous range of the 10 000 buckets, in version order; a request's bucket
/// picks the version whose range holds it.
package struct ReleaseSplit: Sendable, Hashable {
    package static let bucketCount = 10_000

    /// Exclusive upper bound of each version's range.
    package let upperBounds: [Int]

    package init(weights: [Int]) {
        var total = 0
        upperBounds = weights.map { weight in
            total += weight
            return total
        }
    }

    /// The index of the version that owns `bucket` (0 ..< 10 000); `nil` when the weights leave it unowned.
    package func versionIndex(forBucket bucket: Int) -> Int? {
        for (index, upper) in upperBounds.enumerated() where bucket < upper {
            if index == 0 || upperBounds[index - 1] < upper { return index }
        }
        return nil
    }
}
