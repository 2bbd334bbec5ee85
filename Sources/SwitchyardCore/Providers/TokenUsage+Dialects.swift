/// Token counts in each client dialect's usage shape. OpenAI's `prompt_tokens` and the Responses
/// API's `input_tokens` include tokens read from and written to the prompt cache; Anthropic's
/// `input_tokens` leaves both out and counts them in `cache_read_input_tokens` and
/// `cache_creation_input_tokens`.
extension TokenUsage {
    /// From an OpenAI chat completion `usage`: cached reads in `prompt_tokens_details.cached_tokens`,
    /// cache writes in `prompt_tokens_details.cache_write_tokens` (OpenAI's name, which translated
    /// Anthropic answers fill too).
    package init(chat usage: JSONValue?) {
        let details = usage?["prompt_tokens_details"]
        self.init(
            input: usage?["prompt_tokens"]?.intValue() ?? 0, output: usage?["completion_tokens"]?.intValue() ?? 0,
            cachedInput: details?["cached_tokens"]?.intValue() ?? 0, cacheWrite: details?["cache_write_tokens"]?.intValue() ?? 0)
    }

    /// From a Responses API `usage`: cached reads in `input_tokens_details.cached_tokens`.
    package init(responses usage: JSONValue?) {
        let details = usage?["input_tokens_details"]
        self.init(
            input: usage?["input_tokens"]?.intValue() ?? 0, output: usage?["output_tokens"]?.intValue() ?? 0,
            cachedInput: details?["cached_tokens"]?.intValue() ?? 0, cacheWrite: details?["cache_write_tokens"]?.intValue() ?? 0)
    }

    /// From an Anthropic `usage`.
    package init(anthropic usage: JSONValue?) {
        self.init(input: 0, output: 0)
        merge(anthropic: usage)
    }

    /// Takes the members an Anthropic `usage` carries and keeps the others: `message_start` brings
    /// the input counts, `message_delta` the output count (and, from some versions on, the input
    /// counts again).
    package mutating func merge(anthropic usage: JSONValue?) {
        guard let usage else { return }
        var uncached = max(0, input - cachedInput - cacheWrite)
        if let value = usage["input_tokens"]?.intValue() { uncached = value }
        if let value = usage["cache_read_input_tokens"]?.intValue() { cachedInput = value }
        if let value = usage["cache_creation_input_tokens"]?.intValue() { cacheWrite = value }
        if let value = usage["output_tokens"]?.intValue() { output = value }
        input = uncached + cachedInput + cacheWrite
    }

    /// OpenAI chat completion `usage`, with `prompt_tokens_details` always present (a missing
    /// `cached_tokens` reads as "no caching happened" to clients that track it).
    package var chatJSON: JSONValue {
        .object([
            "prompt_tokens": .number(Double(input)), "completion_tokens": .number(Double(output)), "total_tokens": .number(Double(input + output)),
            "prompt_tokens_details": .object(["cached_tokens": .number(Double(cachedInput)), "cache_write_tokens": .number(Double(cacheWrite))]),
        ])
    }

    /// Anthropic `usage`: `input_tokens` without the cached and cache-written tokens.
    package var anthropicJSON: JSONValue {
        .object([
            "input_tokens": .number(Double(max(0, input - cachedInput - cacheWrite))), "output_tokens": .number(Double(output)),
            "cache_read_input_tokens": .number(Double(cachedInput)), "cache_creation_input_tokens": .number(Double(cacheWrite)),
        ])
    }

    /// Responses API `usage` (every member the SDK's `ResponseUsage` requires).
    package func responsesJSON(reasoningTokens: Int = 0) -> JSONValue {
        .object([
            "input_tokens": .number(Double(input)),
            "input_tokens_details": .object(["cached_tokens": .number(Double(cachedInput)), "cache_write_tokens": .number(Double(cacheWrite))]),
            "output_tokens": .number(Double(output)), "output_tokens_details": .object(["reasoning_tokens": .number(Double(reasoningTokens))]),
            "total_tokens": .number(Double(input + output)),
        ])
    }
}
