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

// MARK: Experiment statistics

extension Statistics {
    /// z for a two-sided 95 % interval.
    package static let z95 = 1.959963984540054
    /// z for 80 % power.
    package static let z80 = 0.8416212335729143

    /// Wilson score interval (95 %) for `successes` of `trials`; `nil` without trials.
    package static func wilsonInterval(successes: Int, trials: Int, z: Double = z95) -> ClosedRange<Double>? {
        guard trials > 0 else { return nil }
        let n = Double(trials)
        let p = Double(successes) / n
        let z2 = z * z
        let center = (p + z2 / (2 * n)) / (1 + z2 / n)
        let half = z * (p * (1 - p) / n + z2 / (4 * n * n)).squareRoot() / (1 + z2 / n)
        return max(0, center - half)...min(1, center + half)
    }

    /// Two-sided p-value of the pooled two-proportion z-test.
    package static func twoProportionZTest(successesA: Int, trialsA: Int, successesB: Int, trialsB: Int) -> (z: Double, p: Double)? {
        guard trialsA > 0, trialsB > 0 else { return nil }
        let (nA, nB) = (Double(trialsA), Double(trialsB))
        let pooled = Double(successesA + successesB) / (nA + nB)
        let variance = pooled * (1 - pooled) * (1 / nA + 1 / nB)
        let difference = Double(successesB) / nB - Double(successesA) / nA
        guard variance > 0 else { return (0, 1) }
        let z = difference / variance.squareRoot()
        return (z, erfc(abs(z) / 2.0.squareRoot()))
    }

    /// Count, mean and sample variance of values known by their running sums.
    package struct Moments: Sendable, Hashable {
        package var count: Int
        package var sum: Double
        package var sumOfSquares: Double

        package init(count: Int, sum: Double, sumOfSquares: Double) {
            self.count = count
            self.sum = sum
            self.sumOfSquares = sumOfSquares
        }

        package var mean: Double? { count > 0 ? sum / Double(count) : nil }

        package var variance: Double? {
            guard count > 1, let mean else { return nil }
            return max(0, (sumOfSquares - Double(count) * mean * mean) / Double(count - 1))
        }
    }

    /// Welch's unequal-variances t-test of B against A: t, degrees of freedom and the two-sided p-value.
    package static func welchTTest(_ a: Moments, _ b: Moments) -> (t: Double, degreesOfFreedom: Double, p: Double)? {
        guard let meanA = a.mean, let meanB = b.mean, let varianceA = a.variance, let varianceB = b.variance else { return nil }
        let (errorA, errorB) = (varianceA / Double(a.count), varianceB / Double(b.count))
        let standardError2 = errorA + errorB
        guard standardError2 > 0 else { return meanA == meanB ? (0, 0, 1) : (meanB > meanA ? .infinity : -.infinity, 0, 0) }
        let t = (meanB - meanA) / standardError2.squareRoot()
        let df = standardError2 * standardError2 / (errorA * errorA / Double(a.count - 1) + errorB * errorB / Double(b.count - 1))
        return (t, df, 2 * studentTUpperTail(abs(t), degreesOfFreedom: df))
    }

    /// P(T > t) for Student's t with `degreesOfFreedom`, t ≥ 0.
    package static func studentTUpperTail(_ t: Double, degreesOfFreedom df: Double) -> Double {
        0.5 * regularizedIncompleteBeta(df / (df + t * t), a: df / 2, b: 0.5)
    }

    /// Pearson's chi-square test of observed counts against expected shares: the statistic and its p-value.
    package static func chiSquareGoodnessOfFit(observed: [Int], shares: [Double]) -> (chiSquare: Double, p: Double)? {
        let total = Double(observed.reduce(0, +))
        guard observed.count >= 2, observed.count == shares.count, total > 0 else { return nil }
        var chiSquare = 0.0
        for (count, share) in zip(observed, shares) where share > 0 {
            let expected = total * share
            chiSquare += (Double(count) - expected) * (Double(count) - expected) / expected
        }
        return (chiSquare, chiSquareUpperTail(chiSquare, degreesOfFreedom: Double(observed.count - 1)))
    }

    /// P(X > x) for chi-square with `degreesOfFreedom`.
    package static func chiSquareUpperTail(_ x: Double, degreesOfFreedom df: Double) -> Double {
        guard x > 0 else { return 1 }
        return 1 - regularizedLowerGamma(a: df / 2, x: x / 2)
    }

    /// P(a, x): the regularized lower incomplete gamma function (series below a + 1, continued fraction above).
    package static func regularizedLowerGamma(a: Double, x: Double) -> Double {
        guard x > 0 else { return 0 }
        let logPrefix = a * log(x) - x - lgamma(a)
        if x < a + 1 {
            var term = 1 / a
            var sum = term
            var n = a
            for _ in 0..<1_000 {
                n += 1
                term *= x / n
                sum += term
                if abs(term) < abs(sum) * 1e-15 { break }
            }
            return min(1, sum * exp(logPrefix))
        }
        // Lentz's method for the continued fraction of Q(a, x).
        let tiny = 1e-300
        var b = x + 1 - a
        var c = 1 / tiny
        var d = 1 / b
        var h = d
        for i in 1..<1_000 {
            let an = -Double(i) * (Double(i) - a)
            b += 2
            d = an * d + b
            if abs(d) < tiny { d = tiny }
            c = b + an / c
            if abs(c) < tiny { c = tiny }
            d = 1 / d
            let delta = d * c
            h *= delta
            if abs(delta - 1) < 1e-15 { break }
        }
        return max(0, 1 - exp(logPrefix) * h)
    }

    /// I_x(a, b): the regularized incomplete beta function, by its continued fraction.
    package static func regularizedIncompleteBeta(_ x: Double, a: Double, b: Double) -> Double {
        guard x > 0 else { return 0 }
        guard x < 1 else { return 1 }
        let logBeta: Double = lgamma(a) + lgamma(b) - lgamma(a + b)
        let logPowers: Double = a * log(x) + b * log(1 - x)
        let logFront = logPowers - logBeta
        if x > (a + 1) / (a + b + 2) {
            return 1 - exp(logFront) * betaContinuedFraction(1 - x, a: b, b: a) / b
        }
        return exp(logFront) * betaContinuedFraction(x, a: a, b: b) / a
    }

    private static func betaContinuedFraction(_ x: Double, a: Double, b: Double) -> Double {
        let tiny = 1e-300
        var c = 1.0
        var d = 1 - (a + b) * x / (a + 1)
        if abs(d) < tiny { d = tiny }
        d = 1 / d
        var h = d
        for m in 1..<1_000 {
            let m = Double(m)
            let even = m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m))
            d = 1 + even * d
            if abs(d) < tiny { d = tiny }
            c = 1 + even / c
            if abs(c) < tiny { c = tiny }
            d = 1 / d
            h *= d * c
            let odd = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))
            d = 1 + odd * d
            if abs(d) < tiny { d = tiny }
            c = 1 + odd / c
            if abs(c) < tiny { c = tiny }
            d = 1 / d
            let delta = d * c
            h *= delta
            if abs(delta - 1) < 1e-15 { break }
        }
        return h
    }

    /// (mean_B − mean_A) / mean_A with its 95 % interval by the delta method, from each mean's squared standard error.
    package static func relativeEffect(
        meanA: Double, standardErrorSquaredA: Double, meanB: Double, standardErrorSquaredB: Double
    ) -> (effect: Double, interval: ClosedRange<Double>)? {
        guard meanA != 0 else { return nil }
        let effect = (meanB - meanA) / meanA
        let variance = standardErrorSquaredB / (meanA * meanA) + meanB * meanB * standardErrorSquaredA / pow(meanA, 4)
        let half = z95 * variance.squareRoot()
        return (effect, (effect - half)...(effect + half))
    }

    /// Requests per variant a two-sided 5 % test needs to detect `difference` with 80 % power, given
    /// both groups' per-request variances.
    package static func requiredSampleSize(difference: Double, varianceA: Double, varianceB: Double) -> Int? {
        guard difference != 0, varianceA + varianceB > 0 else { return nil }
        let n = (z95 + z80) * (z95 + z80) * (varianceA + varianceB) / (difference * difference)
        return n.isFinite && n < 1e12 ? Int(n.rounded(.up)) : nil
    }
}
