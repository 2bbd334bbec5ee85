import SwitchyardCore

/// The API an upstream request is for.
package enum Endpoint: String, Sendable {
    case chatCompletions = "chat/completions"
    case embeddings
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
