import SwitchyardCore

/// The API an upstream request is for.
package enum Endpoint: String, Sendable {
    case chatCompletions = "chat/completions"
    case embeddings
    /// Legacy text completions: OpenAI-compatible backends only.
    case completions
}

extension Endpoint {
    /// `gen_ai.operation.name` of a request to this endpoint.
    var operationName: String {
        switch self {
        case .chatCompletions: "chat"
        case .embeddings: "embeddings"
        case .completions: "text_completion"
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
