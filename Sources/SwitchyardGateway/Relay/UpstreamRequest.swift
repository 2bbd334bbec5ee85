import NIOCore
import SwitchyardCore

/// The API an upstream request is for.
package enum Endpoint: String, Sendable, CaseIterable {
    case chatCompletions = "chat/completions"
    case embeddings
    /// Legacy text completions: OpenAI-compatible backends only.
    case completions
    /// Anthropic's Messages API in front: passed through to Anthropic, translated to chat otherwise.
    case messages
    /// Anthropic's token count: passed through to Anthropic, estimated otherwise.
    case messagesCountTokens = "messages/count_tokens"
    /// OpenAI's Responses API: passed through to providers that speak it, translated to chat otherwise.
    case responses
}

extension Endpoint {
    /// `gen_ai.operation.name` of a request to this endpoint.
    var operationName: String {
        switch self {
        case .chatCompletions: "chat"
        case .embeddings: "embeddings"
        case .completions: "text_completion"
        case .messages, .messagesCountTokens, .responses: "chat"
        }
    }

    /// Whether the client speaks Anthropic's dialect: errors, stream ends and usage take its shape.
    var isAnthropic: Bool {
        switch self {
        case .messages, .messagesCountTokens: true
        case .chatCompletions, .embeddings, .completions, .responses: false
        }
    }

    /// Whether answers carry usage in chat completions' shape, and streams end with `[DONE]`.
    var isChatShaped: Bool {
        switch self {
        case .chatCompletions, .embeddings, .completions: true
        case .messages, .messagesCountTokens, .responses: false
        }
    }

    /// Whether one complete stream event says the stream ended well: `[DONE]`, Anthropic's
    /// `message_stop`, or the Responses API's `response.completed` / `response.incomplete`.
    func endsStream(_ event: ByteBuffer) -> Bool {
        switch self {
        case .chatCompletions, .embeddings, .completions: event.hasFieldLine("data", "[DONE]")
        case .messages, .messagesCountTokens: event.hasFieldLine("event", "message_stop")
        case .responses: event.hasFieldLine("event", "response.completed") || event.hasFieldLine("event", "response.incomplete")
        }
    }

    /// The stream's end marker as a message says it.
    var streamEndName: String {
        switch self {
        case .chatCompletions, .embeddings, .completions: "[DONE]"
        case .messages, .messagesCountTokens: "message_stop"
        case .responses: "response.completed"
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
