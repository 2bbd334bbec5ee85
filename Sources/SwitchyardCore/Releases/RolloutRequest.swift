/// Reads a rollout request (`POST /api/models/{model}/rollouts`, or `[models.NAME.rollout]` in the seed):
/// `{"canary": "v2", "steps": [{"set_weight": 1}, {"pause": "10m"}, {"pause": {}}], "analysis": {…}}`.
package struct RolloutRequest: Sendable, Hashable, Codable {
    package var canary: String
    package var steps: [RolloutStep]
    package var analysis: RolloutAnalysis

    /// Parses from a table (TOML or JSON converted); every problem is reported with its key.
    package static func read(from table: TableReader) -> RolloutRequest? {
        let errorCount = table.errors.errors.count
        let canary = table.requiredString("canary")
        var steps: [RolloutStep] = []
        if let stepTables = table.tables("steps") {
            for step in stepTables {
                if let step = readStep(step) { steps.append(step) }
            }
            if stepTables.isEmpty { table.fail("steps", "needs at least one step") }
        } else if table.values["steps"] == nil {
            table.fail("steps", "is required")
        }
        let analysis = table.table("analysis").map(readAnalysis) ?? .standard
        if let late = steps.dropFirst().firstIndex(where: { if case .shadow = $0 { true } else { false } }) {
            table.fail("steps[\(late)].shadow", "a shadow step can only be the first step: it judges the canary before anyone is served by it")
        }
        table.rejectUnknownKeys()
        guard let canary, table.errors.errors.count == errorCount else { return nil }
        return RolloutRequest(canary: canary, steps: steps, analysis: analysis)
    }

    private static func readStep(_ table: TableReader) -> RolloutStep? {
        defer { table.rejectUnknownKeys() }
        if table.values.count != 1 {
            table.fail("", "a step is {\"set_weight\": PERCENT}, {\"pause\": DURATION or {}} or {\"shadow\": {share, duration, min_requests}}")
            return nil
        }
        if let shadow = table.table("shadow") {
            return readShadowStep(shadow)
        }
        if table.values["set_weight"] != nil {
            return table.percentBasisPoints("set_weight").map { .setWeight(basisPoints: $0) }
        }
        if case .table(let values)? = table.values["pause"] {
            _ = table.table("pause")
            if !values.isEmpty { table.fail("pause", "an open pause is {}; a timed one is a duration like \"10m\"") }
            return .pause(seconds: nil)
        }
        guard let text = table.string("pause") else { return nil }
        guard let seconds = Duration.seconds(parsing: text) else {
            table.fail("pause", "expected a duration like \"30s\", \"10m\" or \"1h\", got \"\(text)\"")
            return nil
        }
        return .pause(seconds: seconds)
    }

    private static func readShadowStep(_ table: TableReader) -> RolloutStep? {
        defer { table.rejectUnknownKeys() }
        let errorCount = table.errors.errors.count
        let share = table.percentBasisPoints("share", in: 0.01...100)
        if table.values["share"] == nil { table.fail("share", "is required") }
        var duration: Double?
        if let text = table.string("duration") {
            duration = Duration.seconds(parsing: text)
            if duration == nil { table.fail("duration", "expected a duration like \"30s\", \"10m\" or \"1h\", got \"\(text)\"") }
        } else if table.values["duration"] == nil {
            table.fail("duration", "is required")
        }
        let minRequests = table.integer("min_requests", in: 1...10_000_000) ?? RolloutAnalysis().minRequests
        guard let share, let duration, table.errors.errors.count == errorCount else { return nil }
        return .shadow(ShadowStep(shareBasisPoints: share, durationSeconds: duration, minRequests: minRequests))
    }

    private static func readAnalysis(_ table: TableReader) -> RolloutAnalysis {
        var analysis = RolloutAnalysis()
        func duration(_ key: String) -> Double? {
            guard let text = table.string(key) else { return nil }
            guard let seconds = Duration.seconds(parsing: text), seconds > 0 else {
                table.fail(key, "expected a duration like \"30s\", \"5m\" or \"1h\", got \"\(text)\"")
                return nil
            }
            return seconds
        }
        analysis.intervalSeconds = duration("interval") ?? analysis.intervalSeconds
        analysis.windowSeconds = duration("window") ?? analysis.windowSeconds
        analysis.minRequests = table.integer("min_requests", in: 1...10_000_000) ?? analysis.minRequests
        analysis.maxErrorRate = table.number("max_error_rate", in: 0...1)
        analysis.maxP95LatencyMilliseconds = table.number("max_p95_latency_ms", in: 0...86_400_000)
        analysis.maxP95TTFTMilliseconds = table.number("max_p95_ttft_ms", in: 0...86_400_000)
        analysis.maxErrorRateIncrease = table.number("max_error_rate_increase", in: 0...1)
        analysis.maxLatencyRatio = table.number("max_latency_ratio", in: 0.01...1_000)
        analysis.minAgreement = table.number("min_agreement", in: 0...1)
        analysis.significance = table.number("significance", in: 0.0001...0.5) ?? analysis.significance
        analysis.failureLimit = table.integer("failure_limit", in: 1...1_000) ?? analysis.failureLimit
        table.rejectUnknownKeys()
        let judgesNothing =
            analysis.maxErrorRate == nil && analysis.maxP95LatencyMilliseconds == nil && analysis.maxP95TTFTMilliseconds == nil
            && analysis.maxErrorRateIncrease == nil && analysis.maxLatencyRatio == nil
        if judgesNothing { analysis.maxErrorRateIncrease = RolloutAnalysis.standard.maxErrorRateIncrease }
        return analysis
    }
}

extension Duration {
    /// Seconds written the way `seconds(parsing:)` reads them: `"30s"`, `"1.5s"`.
    package static func text(seconds: Double) -> String {
        seconds.rounded() == seconds && seconds < 1e15 ? "\(Int(seconds))s" : "\(seconds)s"
    }

    /// Seconds in a duration written like `"30s"`, `"10m"`, `"1h"`, `"1.5h"` or `"250ms"`; at most a year.
    package static func seconds(parsing text: String) -> Double? {
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3_600), ("d", 86_400)]
        for (suffix, factor) in units where text.hasSuffix(suffix) {
            guard let value = Double(text.dropLast(suffix.count)), value >= 0, value.isFinite, value * factor <= 31_536_000 else { return nil }
            return value * factor
        }
        return nil
    }
}

extension TOMLNode {
    /// A JSON value as the same tree TOML is read into, so API bodies get the seed's validation.
    package init(json: JSONValue) {
        switch json {
        case .null: self = .other("null")
        case .bool(let value): self = .bool(value)
        case .number(let value):
            self = value.rounded() == value && abs(value) < 1e15 ? .integer(Int(value)) : .double(value)
        case .string(let value): self = .string(value)
        case .array(let values): self = .array(values.map(TOMLNode.init(json:)))
        case .object(let members): self = .table(members.mapValues(TOMLNode.init(json:)))
        }
    }
}
