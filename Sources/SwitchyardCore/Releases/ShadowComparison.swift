/// One recorded answer: what a comparison needs of a shadow copy or of the primary it copied.
package struct AnswerRecord: Sendable, Hashable {
    package var status: Int
    package var latencyMilliseconds: Double
    package var timeToFirstTokenMilliseconds: Double?
    package var inputTokens: Int
    package var outputTokens: Int
    package var costUSD: Double

    package init(
        status: Int, latencyMilliseconds: Double, timeToFirstTokenMilliseconds: Double? = nil, inputTokens: Int = 0, outputTokens: Int = 0,
        costUSD: Double = 0
    ) {
        self.status = status
        self.latencyMilliseconds = latencyMilliseconds
        self.timeToFirstTokenMilliseconds = timeToFirstTokenMilliseconds
        self.inputTokens = inputTokens
        self.outputTokens = outputTokens
        self.costUSD = costUSD
    }

    /// An error as rollouts count it; a client that left (499) is no one's failure.
    var isError: Bool { status >= 500 || status == 429 }
}

/// A shadow copy with the primary answer it copied (`nil` when the primary's outcome is not recorded).
package struct ShadowPairRecord: Sendable, Hashable {
    package var shadow: AnswerRecord
    package var primary: AnswerRecord?
    package var similarity: Double?
    package var exactMatch: Bool?

    package init(shadow: AnswerRecord, primary: AnswerRecord?, similarity: Double? = nil, exactMatch: Bool? = nil) {
        self.shadow = shadow
        self.primary = primary
        self.similarity = similarity
        self.exactMatch = exactMatch
    }
}

/// A kept answer pair where the two differ (`keep_examples`).
package struct ShadowExampleRecord: Sendable, Hashable {
    package var requestID: String
    package var time: Double
    package var similarity: Double
    package var primaryText: String
    package var shadowText: String

    package init(requestID: String, time: Double, similarity: Double, primaryText: String, shadowText: String) {
        self.requestID = requestID
        self.time = time
        self.similarity = similarity
        self.primaryText = primaryText
        self.shadowText = shadowText
    }
}

/// A shadow version against the primaries it copied: errors, latency and time to first token,
/// tokens and cost per request, and how alike the answers are.
package struct ShadowComparison: Sendable, Hashable {
    /// One side's measures.
    package struct Side: Sendable, Hashable {
        package var requests = 0
        package var errors = 0
        package var p50LatencyMilliseconds: Double?
        package var p95LatencyMilliseconds: Double?
        package var p50TTFTMilliseconds: Double?
        package var p95TTFTMilliseconds: Double?
        package var tokensPerRequest: Double?
        package var costPerRequestUSD: Double?

        package var errorRate: Double? { requests > 0 ? Double(errors) / Double(requests) : nil }

        init(_ answers: [AnswerRecord]) {
            requests = answers.count
            errors = answers.count(where: \.isError)
            let latencies = answers.map(\.latencyMilliseconds)
            let ttfts = answers.compactMap(\.timeToFirstTokenMilliseconds)
            p50LatencyMilliseconds = Statistics.percentile(latencies, 0.5)
            p95LatencyMilliseconds = Statistics.percentile(latencies, 0.95)
            p50TTFTMilliseconds = Statistics.percentile(ttfts, 0.5)
            p95TTFTMilliseconds = Statistics.percentile(ttfts, 0.95)
            guard !answers.isEmpty else { return }
            tokensPerRequest = Double(answers.reduce(0) { $0 + $1.inputTokens + $1.outputTokens }) / Double(answers.count)
            costPerRequestUSD = answers.reduce(0) { $0 + $1.costUSD } / Double(answers.count)
        }
    }

    package struct Agreement: Sendable, Hashable {
        /// Pairs where both answered in full with text.
        package var compared = 0
        package var exactMatchRate: Double?
        package var meanSimilarity: Double?
        package var p10Similarity: Double?
        package var p50Similarity: Double?
        package var p90Similarity: Double?
        /// Pairs by similarity in tenths: `[0, 0.1)`, …, `[0.9, 1]`.
        package var histogram = Array(repeating: 0, count: 10)
    }

    package var shadow: Side
    /// The primaries of the same requests.
    package var primary: Side
    package var agreement: Agreement

    package init(_ pairs: [ShadowPairRecord]) {
        shadow = Side(pairs.map(\.shadow))
        primary = Side(pairs.compactMap(\.primary))
        var agreement = Agreement()
        let similarities = pairs.compactMap(\.similarity)
        agreement.compared = similarities.count
        if !similarities.isEmpty {
            agreement.meanSimilarity = similarities.reduce(0, +) / Double(similarities.count)
            agreement.exactMatchRate = Double(pairs.count { $0.exactMatch == true }) / Double(similarities.count)
            agreement.p10Similarity = Statistics.percentile(similarities, 0.1)
            agreement.p50Similarity = Statistics.percentile(similarities, 0.5)
            agreement.p90Similarity = Statistics.percentile(similarities, 0.9)
            for similarity in similarities { agreement.histogram[min(9, max(0, Int(similarity * 10)))] += 1 }
        }
        self.agreement = agreement
    }

    /// Shadow over primary, when both are known and the primary's is above zero.
    package static func ratio(_ shadow: Double?, _ primary: Double?) -> Double? {
        guard let shadow, let primary, primary > 0 else { return nil }
        return shadow / primary
    }
}
