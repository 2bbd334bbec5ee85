/// A chat completion request translated from another client dialect (Responses API, Anthropic
/// Messages), ready for a backend that speaks chat completions or for `AnthropicTranslation`.
package struct ChatRequestTranslation: Sendable, Hashable {
    /// The chat completion body; `model` is the client's, for the relay to rewrite as usual.
    package var body: [String: JSONValue]
    /// How many prompt-cache marks the client set (Anthropic `cache_control`, Responses
    /// `prompt_cache_breakpoint`), whether they were carried into `body` or left out.
    package var cacheMarks: Int

    package init(body: [String: JSONValue], cacheMarks: Int = 0) {
        self.body = body
        self.cacheMarks = cacheMarks
    }
}
