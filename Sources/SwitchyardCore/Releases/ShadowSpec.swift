/// `[models.NAME.shadow]`: a share of a model's requests copied to a candidate version whose answers
/// no client sees. Sticky by the split's bucket, so a user's whole conversation is shadowed or not.
package struct ShadowSpec: Sendable, Hashable, Codable {
    package var version: String
    /// Share of the model's requests copied, in basis points.
    package var shareBasisPoints: Int
    /// Copies open at once per model; a request over it is not copied (and counted as dropped).
    package var maxInFlight: Int
    /// Answer pairs kept where the two answers differ most; 0 keeps none (they hold answer text).
    package var keepExamples: Int

    package static let defaultMaxInFlight = 16
    package static let maximumKeptExamples = 100

    package init(version: String, shareBasisPoints: Int, maxInFlight: Int = Self.defaultMaxInFlight, keepExamples: Int = 0) {
        self.version = version
        self.shareBasisPoints = shareBasisPoints
        self.maxInFlight = maxInFlight
        self.keepExamples = keepExamples
    }

    /// Reads `{version = "v2", share = 10, max_in_flight = 16, keep_examples = 0}` (seed table or API body).
    package static func read(from table: TableReader) -> ShadowSpec? {
        let errorCount = table.errors.errors.count
        let version = table.requiredString("version")
        let share = table.percentBasisPoints("share")
        if table.values["share"] == nil { table.fail("share", "is required") }
        let maxInFlight = table.integer("max_in_flight", in: 1...10_000) ?? defaultMaxInFlight
        let keepExamples = table.integer("keep_examples", in: 0...maximumKeptExamples) ?? 0
        table.rejectUnknownKeys()
        guard let version, let share, table.errors.errors.count == errorCount else { return nil }
        return ShadowSpec(version: version, shareBasisPoints: share, maxInFlight: maxInFlight, keepExamples: keepExamples)
    }

    /// Whether a request in `bucket` (0 ..< 10 000) is copied: the lowest `share` buckets are.
    package func covers(bucket: Int) -> Bool {
        bucket < shareBasisPoints
    }
}
