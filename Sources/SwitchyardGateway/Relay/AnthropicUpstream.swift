import Foundation
import HTTPTypes
import NIOCore
import SwitchyardCore

/// Speaks Anthropic's Messages API for OpenAI clients: the request is translated before it leaves,
/// the answer (JSON, event stream or error) is translated as it arrives, event by event.
package struct AnthropicUpstream: ProviderAdapter {
    static let maxResponseBytes = 16 << 20
    private let http: OpenAIUpstream

    package init(http: OpenAIUpstream) {
        self.http = http
    }

    package func send(
        _ request: UpstreamRequest, to backend: EffectiveConfiguration.Backend, settings: GatewaySettings
    ) async throws -> UpstreamResponse {
        let provider = backend.provider.spec
        let body = try Self.translatedRequest(request, model: backend.upstreamModel)
        guard let baseURL = provider.effectiveBaseURL else {
            throw GatewayError.upstreamUnreachable("provider '\(provider.id)' has no base_url")
        }
        var headers = [("anthropic-version", provider.effectiveAPIVersion ?? "")]
        if let key = backend.provider.apiKey { headers.append(("x-api-key", key)) }
        let response = try await http.execute(
            url: "\(baseURL)/messages", headers: headers, body: body.jsonBytes, request: request, provider: provider, settings: settings)
        return try await Self.translate(response, for: request)
    }

    /// The Messages API body, or a 400 naming what Anthropic cannot express.
    static func translatedRequest(_ request: UpstreamRequest, model: String) throws -> JSONValue {
        guard request.endpoint == .chatCompletions else {
            throw GatewayError(
                status: .badRequest, message: "Anthropic providers serve chat completions only, not \(request.endpoint.rawValue).",
                type: "invalid_request_error", code: "unsupported_endpoint")
        }
        do {
            return try AnthropicTranslation.request(from: request.body, model: model, stream: request.stream)
        } catch {
            throw GatewayError(status: .badRequest, message: error.message, type: "invalid_request_error", param: error.param)
        }
    }

    /// An Anthropic answer as the OpenAI answer it stands for.
    static func translate(_ response: UpstreamResponse, for request: UpstreamRequest) async throws -> UpstreamResponse {
        let created = Int(Date().timeIntervalSince1970)
        guard (200..<300).contains(response.status) else {
            let bytes = try? await response.body.collect(upTo: 1 << 20)
            let json = bytes.flatMap { try? JSONValue.parse($0.readableBytesView) }
            let (status, body) = AnthropicTranslation.error(status: response.status, body: json)
            return whole(status: status, body, retryAfter: response.retryAfter)
        }
        guard request.stream, response.contentType?.hasPrefix("text/event-stream") ?? false else {
            let bytes = try await response.body.collect(upTo: maxResponseBytes)
            guard let message = try? JSONValue.parse(bytes.readableBytesView), message["type"]?.stringValue == "message" else {
                throw GatewayError.badUpstreamResponse("the Anthropic upstream's answer is not a message")
            }
            return whole(status: 200, AnthropicTranslation.response(message, created: created))
        }
        let includeUsage = request.body["stream_options"]?["include_usage"]?.boolValue == true
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: ByteBuffer.self, throwing: (any Error).self)
        let translation = Task {
            var scanner = ServerSentEventScanner()
            var translator = AnthropicStreamTranslator(created: created, includeUsage: includeUsage)
            do {
                chunks: for try await chunk in response.body {
                    var output = ByteBuffer()
                    for event in scanner.events(appending: chunk) {
                        guard let data = eventData(event), let json = try? JSONValue.parse(data) else { continue }
                        for payload in translator.translate(json) {
                            output.writeString("data: \(payload)\n\n")
                        }
                        if translator.finished { break }
                    }
                    if output.readableBytes > 0 { continuation.yield(output) }
                    if translator.finished { break chunks }
                }
                if let failure = translator.failure {
                    let error = failure.body["error"]
                    throw GatewayError(
                        status: HTTPResponse.Status(code: failure.status), message: error?["message"]?.stringValue ?? "Anthropic stream error",
                        type: error?["type"]?.stringValue ?? "server_error", code: error?["code"]?.stringValue)
                }
                guard translator.finished else { throw GatewayError.badUpstreamResponse("Anthropic stream ended before message_stop") }
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        continuation.onTermination = { _ in translation.cancel() }
        return UpstreamResponse(status: 200, contentType: "text/event-stream", contentLength: nil, body: .generated(stream))
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

    private static func whole(status: Int, _ body: JSONValue, retryAfter: String? = nil) -> UpstreamResponse {
        let bytes = ByteBuffer(bytes: body.jsonBytes)
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: ByteBuffer.self, throwing: (any Error).self)
        continuation.yield(bytes)
        continuation.finish()
        return UpstreamResponse(
            status: status, contentType: "application/json", contentLength: bytes.readableBytes, retryAfter: retryAfter, body: .generated(stream))
    }
}
