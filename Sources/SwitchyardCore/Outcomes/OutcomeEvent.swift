/// What happened to one client request: recorded after the answer ends, however it ends.
package struct OutcomeEvent: Sendable, Hashable, Codable {
    /// Seconds since 1970.
    package var time: Double
    package var requestID: String
    package var userID: String
    package var model: String
    package var version: String
    /// `provider/upstream-model`, empty when no backend was reached.
    package var backend: String
    package var endpoint: String
    /// HTTP status the client got; 499 when the client went away first.
    package var status: Int
    package var stream: Bool
    package var latencyMilliseconds: Double
    package var timeToFirstTokenMilliseconds: Double?
    package var inputTokens: Int
    package var outputTokens: Int
    /// The part of `inputTokens` read from the provider's prompt cache.
    package var cachedInputTokens = 0
    /// The part of `inputTokens` written to the provider's prompt cache.
    package var cacheWriteTokens = 0
    package var costUSD: Double
    package var error: String?
    /// The W3C trace the request belongs to.
    package var traceID: String?
    /// The version drawn first, when it had no usable backend and the default served instead: a failure of that version.
    package var fellBackFrom: String?
    /// Backends tried after the first failed attempt.
    package var failovers = 0
    /// The rate-limit admission this request used, to correct its estimated tokens.
    package var rateLimitTicket: Int?
    /// The experiment and variant the request met, if any.
    package var experiment: String?
    package var variant: String?
    /// The server and upstream spans, only while traces are exported (`[telemetry] otlp_endpoint`).
    package var trace: RequestTrace?
    /// A shadow copy: no client saw its answer; kept out of usage, budgets, rate limits and the primary's metrics.
    package var shadow = false
    /// Shadow copies: how its answer compares with the primary's, when both answered with text.
    package var agreement: ShadowAgreement?

    package init(
        time: Double, requestID: String, userID: String, model: String, version: String, backend: String, endpoint: String,
        status: Int, stream: Bool, latencyMilliseconds: Double, timeToFirstTokenMilliseconds: Double? = nil,
        inputTokens: Int = 0, outputTokens: Int = 0, costUSD: Double = 0, error: String? = nil, traceID: String? = nil
    ) {
        self.time = time
        self.requestID = requestID
        self.userID = userID
        self.model = model
        self.version = version
        self.backend = backend
        self.endpoint = endpoint
        self.status = status
        self.stream = stream
        self.latencyMilliseconds = latencyMilliseconds
        self.timeToFirstTokenMilliseconds = timeToFirstTokenMilliseconds
        self.inputTokens = inputTokens
        self.outputTokens = outputTokens
        self.costUSD = costUSD
        self.error = error
        self.traceID = traceID
    }

    package var isError: Bool { status >= 500 || status == 429 || status == 499 }
}

/// A shadow's answer against the primary's (see `AnswerAgreement`), with both texts when the model keeps examples.
package struct ShadowAgreement: Sendable, Hashable, Codable {
    package var similarity: Double
    package var exactMatch: Bool
    package var example: ShadowExample?

    /// - Parameter keepExamples: how many differing pairs the model keeps; 0 keeps no text.
    package init(primary: String, shadow: String, keepExamples: Int) {
        similarity = AnswerAgreement.similarity(primary, shadow)
        exactMatch = AnswerAgreement.isExactMatch(primary, shadow)
        example = keepExamples > 0 && !exactMatch ? ShadowExample(primary: primary, shadow: shadow, keep: keepExamples) : nil
    }
}

package struct ShadowExample: Sendable, Hashable, Codable {
    package var primary: String
    package var shadow: String
    /// The model's `keep_examples` when the pair was made: how many pairs of its version are kept.
    package var keep: Int
}

/// Token counts reported by an upstream.
package struct TokenUsage: Sendable, Hashable {
    /// Prompt tokens as OpenAI counts them: cache reads and cache writes included.
    package var input: Int
    package var output: Int
    /// The part of `input` read from the provider's prompt cache.
    package var cachedInput: Int
    /// The part of `input` written to the provider's prompt cache (Anthropic bills these above plain input).
    package var cacheWrite: Int

    package init(input: Int, output: Int, cachedInput: Int = 0, cacheWrite: Int = 0) {
        self.input = input
        self.output = output
        self.cachedInput = cachedInput
        self.cacheWrite = cacheWrite
    }

    /// USD cost at the provider's per-million-token prices: cache reads and writes at their own
    /// prices when the provider sets them, else as plain input.
    package func cost(for provider: ProviderSpec) -> Double {
        let inputPrice = provider.costInputPerMillionTokens
        let cached = min(max(cachedInput, 0), max(input, 0))
        let written = min(max(cacheWrite, 0), max(input - cached, 0))
        let plain = Double(max(input - cached - written, 0)) * inputPrice
        let cachedCost = Double(cached) * (provider.costCachedInputPerMillionTokens ?? inputPrice)
        let writeCost = Double(written) * (provider.costCacheWritePerMillionTokens ?? inputPrice)
        return (plain + cachedCost + writeCost + Double(output) * provider.costOutputPerMillionTokens) / 1_000_000
    }
}
