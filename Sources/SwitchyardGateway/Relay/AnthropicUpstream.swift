import Foundation
import HTTPTypes
import NIOCore
import SwitchyardCore

/// Speaks Anthropic's Messages API for OpenAI clients: the request is translated before it leaves;
/// `AnthropicAnswerTranslator` translates the answer as it arrives.
enum AnthropicUpstream {
    static let maxResponseBytes = 16 << 20

    /// The Messages API body, or a 400 naming what Anthropic cannot express.
    static func translatedRequest(_ request: UpstreamRequest, model: String) throws(GatewayError) -> JSONValue {
        guard request.endpoint == .chatCompletions else { throw unsupported(request.endpoint) }
        do {
            return try AnthropicTranslation.request(from: request.body, model: model, stream: request.stream)
        } catch {
            throw GatewayError(status: .badRequest, message: error.message, type: "invalid_request_error", param: error.param)
        }
    }

    /// The 400 for an endpoint Anthropic's Messages API has no equivalent of; the backend is not at fault.
    static func unsupported(_ endpoint: Endpoint) -> GatewayError {
        let message =
            switch endpoint {
            case .completions:
                "The legacy completions endpoint (/v1/completions) has no equivalent in Anthropic's Messages API, which this "
                    + "model's backend speaks; send the prompt as a user message to /v1/chat/completions instead."
            case .embeddings: "Anthropic's API has no embeddings endpoint (/v1/embeddings), which this model's backend would need."
            case .chatCompletions, .messages, .messagesCountTokens, .responses: "Anthropic providers serve chat completions only."
            }
        return GatewayError(status: .badRequest, message: message, type: "invalid_request_error", code: .unsupportedEndpoint)
    }

    /// The `data:` lines of one SSE event, joined; `nil` for an event without data.
    static func eventData(_ event: ByteBuffer) -> [UInt8]? {
        var data: [UInt8] = []
        var found = false
        for line in event.readableBytesView.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true) {
            var line = line[...]
            if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
            guard line.starts(with: "data:".utf8) else { continue }
            var value = line.dropFirst(5)
            if value.first == UInt8(ascii: " ") { value = value.dropFirst() }
            if found { data.append(UInt8(ascii: "\n")) }
            data.append(contentsOf: value)
            found = true
        }
        return found ? data : nil
    }
}
