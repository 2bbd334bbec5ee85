import Foundation

/// What was recorded for one variant: counts, histograms, and running sums (of values and their
/// squares) from which means, variances and tests are exact.
package struct VariantTotals: Sendable, Hashable {
    package var requests = 0
    package var errors = 0
    package var latency = Statistics.Moments(count: 0, sum: 0, sumOfSquares: 0)
    package var latencyHistogram = LatencyHistogram()
    package var ttftCount = 0
    package var ttftSum = 0.0
    package var ttftHistogram = LatencyHistogram()
    package var inputTokens = 0
    /// Parts of `inputTokens` read from and written to the provider's prompt cache.
    package var cachedInputTokens = 0
    package var cacheWriteTokens = 0
    package var outputTokens = 0
    package var cost = Statistics.Moments(count: 0, sum: 0, sumOfSquares: 0)
    package var feedback = Statistics.Moments(count: 0, sum: 0, sumOfSquares: 0)

    package init() {}

    package mutating func add(_ event: OutcomeEvent) {
        requests += 1
        errors += event.isError ? 1 : 0
        latency.add(event.latencyMilliseconds)
        latencyHistogram.add(milliseconds: event.latencyMilliseconds)
        if let ttft = event.timeToFirstTokenMilliseconds {
            ttftCount += 1
            ttftSum += ttft
            ttftHistogram.add(milliseconds: ttft)
        }
        inputTokens += event.inputTokens
        cachedInputTokens += event.cachedInputTokens
        cacheWriteTokens += event.cacheWriteTokens
        outputTokens += event.outputTokens
        cost.add(event.costUSD)
    }

    /// Adds another total (feedback included).
    package mutating func merge(_ other: VariantTotals) {
        requests += other.requests
        errors += other.errors
        latency.merge(other.latency)
        latencyHistogram.merge(other.latencyHistogram)
        ttftCount += other.ttftCount
        ttftSum += other.ttftSum
        ttftHistogram.merge(other.ttftHistogram)
        inputTokens += other.inputTokens
        cachedInputTokens += other.cachedInputTokens
        cacheWriteTokens += other.cacheWriteTokens
        outputTokens += other.outputTokens
        cost.merge(other.cost)
        feedback.merge(other.feedback)
    }
}

extension Statistics.Moments {
    package mutating func add(_ value: Double) {
        count += 1
        sum += value
        sumOfSquares += value * value
    }

    package mutating func merge(_ other: Statistics.Moments) {
        count += other.count
        sum += other.sum
        sumOfSquares += other.sumOfSquares
    }
}

/// An experiment's results: each variant's numbers and, against the control, a test per metric with a plain verdict.
package struct ExperimentResults: Sendable {
    package struct Comparison: Sendable {
        package var metric: String
        package var test: String
        package var control: Double?
        package var variant: Double?
        /// variant − control.
        package var difference: Double?
        /// (variant − control) / control, with its 95 % interval.
        package var relativeEffect: Double?
        package var relativeInterval: ClosedRange<Double>?
        package var statistic: Double?
        package var pValue: Double?
        package var significant: Bool
        /// Requests per variant still needed to detect a difference of the observed size (80 % power), when not yet significant.
        package var moreRequestsNeeded: Int?
        package var verdict: String
    }

    package struct VariantResult: Sendable {
        package var variant: Experiment.Variant
        package var share: Double
        package var isControl: Bool
        package var totals: VariantTotals
        package var successRateInterval: ClosedRange<Double>?
        package var comparisons: [Comparison]

        package var successes: Int { totals.requests - totals.errors }
        package var successRate: Double? { totals.requests > 0 ? Double(successes) / Double(totals.requests) : nil }
        package var costPer1KTokens: Double? {
            let tokens = totals.inputTokens + totals.outputTokens
            return tokens > 0 ? totals.cost.sum / Double(tokens) * 1_000 : nil
        }
    }

    package struct SampleRatio: Sendable {
        package var chiSquare: Double
        package var pValue: Double
        package var mismatch: Bool
    }

    /// Below this p-value the split is judged not to match the weights.
    package static let sampleRatioThreshold = 0.001
    package static let significanceLevel = 0.05

    package var variants: [VariantResult]
    package var sampleRatio: SampleRatio?
    package var trustworthy: Bool
    package var summary: String

    package init(experiment: Experiment, totals: [String: VariantTotals]) {
        let shares = experiment.shares
        let observed = experiment.variants.map { totals[$0.id]?.requests ?? 0 }
        sampleRatio = Statistics.chiSquareGoodnessOfFit(observed: observed, shares: shares).map {
            SampleRatio(chiSquare: $0.chiSquare, pValue: $0.p, mismatch: $0.p < Self.sampleRatioThreshold)
        }
        trustworthy = !(sampleRatio?.mismatch ?? false)
        let control = totals[experiment.control] ?? VariantTotals()
        let controlName = experiment.variants.first { $0.id == experiment.control }?.name ?? experiment.control
        let context = Context(minSamples: experiment.minSamples, trustworthy: trustworthy, controlName: controlName)
        variants = zip(experiment.variants, shares).map { variant, share in
            let own = totals[variant.id] ?? VariantTotals()
            let isControl = variant.id == experiment.control
            return VariantResult(
                variant: variant, share: share, isControl: isControl, totals: own,
                successRateInterval: Statistics.wilsonInterval(successes: own.requests - own.errors, trials: own.requests),
                comparisons: isControl ? [] : Self.compare(own, name: variant.name, with: control, context: context))
        }
        let fewest = variants.map(\.totals.requests).min() ?? 0
        if let sampleRatio, sampleRatio.mismatch {
            summary =
                "Results are not trustworthy: the observed split does not match the weights (sample ratio mismatch, "
                + "\(Self.format(p: sampleRatio.pValue))). Look for a routing or logging problem before reading them."
        } else if fewest < experiment.minSamples {
            summary = "No verdict yet: every variant needs \(experiment.minSamples) requests; the smallest has \(fewest)."
        } else {
            let significant = variants.flatMap(\.comparisons).filter(\.significant).map(\.verdict)
            summary = significant.isEmpty ? "No significant difference yet." : significant.joined(separator: "; ") + "."
        }
    }

    private struct Context {
        var minSamples: Int
        var trustworthy: Bool
        var controlName: String
    }

    private static func compare(_ variant: VariantTotals, name: String, with control: VariantTotals, context: Context) -> [Comparison] {
        var comparisons: [Comparison] = []
        let enough = min(variant.requests, control.requests) >= context.minSamples

        // Success rate: two-proportion z-test.
        let (successA, successB) = (control.requests - control.errors, variant.requests - variant.errors)
        let rateA = control.requests > 0 ? Double(successA) / Double(control.requests) : nil
        let rateB = variant.requests > 0 ? Double(successB) / Double(variant.requests) : nil
        var success = Comparison(
            metric: "success_rate", test: "two_proportion_z", control: rateA, variant: rateB, difference: nil, relativeEffect: nil,
            relativeInterval: nil, statistic: nil, pValue: nil, significant: false, moreRequestsNeeded: nil, verdict: "")
        if let rateA, let rateB,
            let test = Statistics.twoProportionZTest(
                successesA: successA, trialsA: control.requests, successesB: successB, trialsB: variant.requests)
        {
            let (varianceA, varianceB) = (rateA * (1 - rateA), rateB * (1 - rateB))
            success.difference = rateB - rateA
            success.statistic = test.z
            success.pValue = test.p
            if let relative = Statistics.relativeEffect(
                meanA: rateA, standardErrorSquaredA: varianceA / Double(control.requests), meanB: rateB,
                standardErrorSquaredB: varianceB / Double(variant.requests))
            {
                success.relativeEffect = relative.effect
                success.relativeInterval = relative.interval
            }
            success.moreRequestsNeeded = Statistics.requiredSampleSize(difference: rateB - rateA, varianceA: varianceA, varianceB: varianceB)
                .map { max(0, $0 - min(control.requests, variant.requests)) }
        }
        comparisons.append(judge(success, label: "success rate", higherIsBetter: true, name: name, enough: enough, context: context))

        comparisons.append(
            welch(
                metric: "latency_ms", label: "latency", control.latency, variant.latency, higherIsBetter: false, name: name, enough: enough,
                context: context))
        comparisons.append(
            welch(
                metric: "cost_per_request_usd", label: "cost per request", control.cost, variant.cost, higherIsBetter: false, name: name,
                enough: enough, context: context))
        if control.feedback.count > 0 || variant.feedback.count > 0 {
            comparisons.append(
                welch(
                    metric: "feedback_score", label: "feedback score", control.feedback, variant.feedback, higherIsBetter: true, name: name,
                    enough: min(control.feedback.count, variant.feedback.count) >= 2, context: context, unit: "scores"))
        }
        return comparisons
    }

    private static func welch(
        metric: String, label: String, _ control: Statistics.Moments, _ variant: Statistics.Moments, higherIsBetter: Bool, name: String,
        enough: Bool, context: Context, unit: String = "requests"
    ) -> Comparison {
        var comparison = Comparison(
            metric: metric, test: "welch_t", control: control.mean, variant: variant.mean, difference: nil, relativeEffect: nil,
            relativeInterval: nil, statistic: nil, pValue: nil, significant: false, moreRequestsNeeded: nil, verdict: "")
        if let meanA = control.mean, let meanB = variant.mean {
            comparison.difference = meanB - meanA
            if let varianceA = control.variance, let varianceB = variant.variance {
                if let relative = Statistics.relativeEffect(
                    meanA: meanA, standardErrorSquaredA: varianceA / Double(control.count), meanB: meanB,
                    standardErrorSquaredB: varianceB / Double(variant.count))
                {
                    comparison.relativeEffect = relative.effect
                    comparison.relativeInterval = relative.interval
                }
                comparison.moreRequestsNeeded = Statistics.requiredSampleSize(
                    difference: meanB - meanA, varianceA: varianceA, varianceB: varianceB
                ).map { max(0, $0 - min(control.count, variant.count)) }
            }
        }
        if let test = Statistics.welchTTest(control, variant) {
            comparison.statistic = test.t
            comparison.pValue = test.p
        }
        return judge(comparison, label: label, higherIsBetter: higherIsBetter, name: name, enough: enough, context: context, unit: unit)
    }

    private static func judge(
        _ comparison: Comparison, label: String, higherIsBetter: Bool, name: String, enough: Bool, context: Context, unit: String = "requests"
    ) -> Comparison {
        var comparison = comparison
        guard context.trustworthy else {
            comparison.verdict = "not trustworthy: sample ratio mismatch"
            return comparison
        }
        guard enough else {
            comparison.verdict =
                unit == "requests"
                ? "no verdict yet: needs \(context.minSamples) requests per variant" : "no verdict yet: needs at least 2 \(unit) per variant"
            return comparison
        }
        guard let p = comparison.pValue, let difference = comparison.difference else {
            comparison.verdict = "cannot compare: no variance"
            return comparison
        }
        if p < significanceLevel {
            comparison.significant = true
            comparison.moreRequestsNeeded = nil
            let better = (difference > 0) == higherIsBetter
            comparison.verdict = "\(name) is \(better ? "better" : "worse") on \(label) than \(context.controlName), \(format(p: p))"
        } else if let more = comparison.moreRequestsNeeded, more > 0 {
            comparison.verdict = "no significant difference yet (\(format(p: p))); about \(more) more \(unit) per variant needed"
        } else {
            comparison.moreRequestsNeeded = nil
            comparison.verdict = "no significant difference (\(format(p: p)))"
        }
        return comparison
    }

    /// `p = 0.003`, `p < 0.001`.
    package static func format(p: Double) -> String {
        p < 0.001 ? "p < 0.001" : String(format: "p = %.3f", p)
    }
}
