import SwitchyardCore

/// The API an upstream request is for.
package enum Endpoint: String, Sendable {
    case chatCompletions = "chat/completions"
    case embeddings
    /// Legacy text completions: OpenAI-compatible backends only.
    case completions
    /// Anthropic's Messages API in front: passed through to Anthropic, translated to chat otherwise.
    case messages
    /// Anthropic's token count: passed through to Anthropic, estimated otherwise.
    case messagesCountTokens = "messages/count_tokens"
}

extension Endpoint {
    /// `gen_ai.operation.name` of a request to this endpoint.
    var operationName: String {
        switch self {
        case .chatCompletions: "chat"
        case .embeddings: "embeddings"
        case .completions: "text_completion"
        case .messages, .messagesCountTokens: "chat"
        }
    }

    /// What in a stream's last event says it ended well: `[DONE]`, or Anthropic's `message_stop`.
    var streamEnd: StaticString { isAnthropic ? "event: message_stop" : "[DONE]" }

    /// Whether the client speaks Anthropic's dialect: errors, stream ends and usage take its shape.
    var isAnthropic: Bool {
        switch self {
        case .messages, .messagesCountTokens: true
        case .chatCompletions, .embeddings, .completions: false
        }
    }
}

/// A request as a JSON tree, for the paths that need one: format translation and the mock.
package struct UpstreamRequest: Sendable {
    package var endpoint: Endpoint
    package var body: [String: JSONValue]
    package var stream: Bool
    package var requestID: String
    /// Client headers from the allow-list, passed on as they came.
    package var forwardedHeaders: [(String, String)]

    package init(endpoint: Endpoint, body: [String: JSONValue], stream: Bool, requestID: String, forwardedHeaders: [(String, String)]) {
        self.endpoint = endpoint
        self.body = body
        self.stream = stream
        self.requestID = requestID
        self.forwardedHeaders = forwardedHeaders
    }
}
