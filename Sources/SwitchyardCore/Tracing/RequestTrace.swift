/// The spans of one client request, kept only while traces are exported: the gateway's server span
/// and one client span per upstream attempt, all in the trace the response's `traceparent` names.
package struct RequestTrace: Sendable, Hashable, Codable {
    package var traceID: String
    /// The server span: the span id of the `traceparent` the client gets back.
    package var spanID: String
    /// The client's span, when its request carried a `traceparent`.
    package var parentSpanID: String?
    /// `gen_ai.operation.name`: `chat`, `embeddings` or `text_completion`.
    package var operation: String
    /// The model the answer says produced it (`gen_ai.response.model`), when one was read.
    package var responseModel: String?
    package var attempts: [UpstreamAttemptTrace] = []

    package init(traceID: String, spanID: String, parentSpanID: String?, operation: String) {
        self.traceID = traceID
        self.spanID = spanID
        self.parentSpanID = parentSpanID
        self.operation = operation
    }
}

/// One upstream attempt: a client span, child of the request's server span.
package struct UpstreamAttemptTrace: Sendable, Hashable, Codable {
    package var spanID: String
    /// `provider/upstream-model`.
    package var backend: String
    package var providerID: String
    package var providerFormat: ProviderFormat
    package var upstreamModel: String
    /// Seconds since 1970.
    package var startTime: Double
    /// `nil` while the attempt runs.
    package var endTime: Double?
    /// The upstream's HTTP status, when its answer began.
    package var status: Int?
    /// `error.type` when the attempt failed: the upstream's status code, or the gateway's error code.
    package var errorType: String?

    package init(
        spanID: String, backend: String, providerID: String, providerFormat: ProviderFormat, upstreamModel: String, startTime: Double
    ) {
        self.spanID = spanID
        self.backend = backend
        self.providerID = providerID
        self.providerFormat = providerFormat
        self.upstreamModel = upstreamModel
        self.startTime = startTime
    }
}

extension ProviderFormat {
    /// `gen_ai.provider.name` as the OpenTelemetry GenAI conventions spell it; our own name where they have none.
    package var openTelemetryProviderName: String {
        switch self {
        case .openai: return "openai"
        case .azure: return "azure.ai.openai"
        case .anthropic: return "anthropic"
        case .ollama: return "ollama"
        case .mock: return "switchyard.mock"
        }
    }
}
