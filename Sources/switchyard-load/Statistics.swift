/// Exact percentiles of a set of samples (nearest rank over all of them, nothing bucketed).
struct Distribution {
    private let sorted: [UInt64]

    init(_ samples: [UInt64]) { sorted = samples.sorted() }

    var count: Int { sorted.count }

    /// The smallest sample at or above `fraction` of the samples (nearest rank); nil when there are none.
    func percentile(_ fraction: Double) -> UInt64? {
        guard !sorted.isEmpty else { return nil }
        let rank = Int((fraction * Double(sorted.count)).rounded(.up))
        return sorted[Swift.min(Swift.max(rank, 1), sorted.count) - 1]
    }

    var max: UInt64? { sorted.last }

    var mean: Double? {
        guard !sorted.isEmpty else { return nil }
        return Double(sorted.reduce(0, +)) / Double(sorted.count)
    }

    /// `{"p50":…,"p90":…,"p99":…,"max":…}` in milliseconds with three decimals (microsecond resolution).
    var millisecondsJSON: String {
        func ms(_ nanoseconds: UInt64?) -> String { nanoseconds.map { JSON.fixed(Double($0) / 1e6, 3) } ?? "null" }
        return "{\"p50\":\(ms(percentile(0.5))),\"p90\":\(ms(percentile(0.9))),\"p99\":\(ms(percentile(0.99))),\"max\":\(ms(max))}"
    }

    /// `{"p50":…,"p90":…,"p99":…,"max":…,"mean":…}` in microseconds with one decimal.
    var microsecondsJSON: String {
        func us(_ nanoseconds: UInt64?) -> String { nanoseconds.map { JSON.fixed(Double($0) / 1e3, 1) } ?? "null" }
        let mean = self.mean.map { JSON.fixed($0 / 1e3, 1) } ?? "null"
        return "{\"p50\":\(us(percentile(0.5))),\"p90\":\(us(percentile(0.9))),\"p99\":\(us(percentile(0.99))),\"max\":\(us(max)),\"mean\":\(mean)}"
    }
}

/// Just enough JSON writing for the summaries (Foundation is not needed for it).
enum JSON {
    /// `value` with exactly `digits` decimals, rounded half away from zero.
    static func fixed(_ value: Double, _ digits: Int) -> String {
        guard value.isFinite else { return "null" }
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        let scaled = (abs(value) * scale).rounded()
        guard scaled < 9e18 else { return "\(value)" }
        let units = UInt64(scaled)
        let whole = units / UInt64(scale)
        var fraction = String(units % UInt64(scale))
        while fraction.count < digits { fraction = "0" + fraction }
        let sign = value < 0 && units > 0 ? "-" : ""
        return digits == 0 ? "\(sign)\(whole)" : "\(sign)\(whole).\(fraction)"
    }

    static func string(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case _ where scalar.value < 0x20: out += "\\u00" + (scalar.value < 0x10 ? "0" : "") + String(scalar.value, radix: 16)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
