import Foundation
import HTTPTypes
import NIOCore
import SwitchyardCore

extension UpstreamAdapters {
    /// Starts a `/v1/messages` (or `count_tokens`) request: passed through to a backend that speaks
    /// Anthropic with only `model` rewritten; to any other backend translated to chat completions,
    /// with the answer translated back (`ChatAnswerTranslator`). A token count for a
    /// backend that cannot count is estimated here, without a call.
    func startAnthropicClient(
        _ request: OutgoingRequest, to backend: EffectiveConfiguration.Backend, settings: GatewaySettings, on loop: any EventLoop,
        handler: any UpstreamResponseHandler
    ) throws(GatewayError) -> any UpstreamAttempt {
        let provider = backend.provider.spec
        if backend.speaksAnthropic {
            if provider.format == .mock {
                let tree = try request.tree()
                return MockPlayback(script: try Self.script { try mock.anthropicScript(tree, backend: backend) }, loop: loop, handler: handler)
            }
            let clientVersion = request.forwardedHeaders.first { $0.0 == "anthropic-version" }?.1
            var headers = [("anthropic-version", clientVersion ?? provider.effectiveAPIVersion ?? "")]
            if let key = backend.provider.apiKey { headers.append(("x-api-key", key)) }
            var forwarded = request
            forwarded.forwardedHeaders.removeAll { $0.0 == "anthropic-version" }
            return try send(
                forwarded, body: request.body, path: "/\(request.endpoint.rawValue)", headers: headers, provider: backend.provider, on: loop,
                handler: handler)
        }
        let tree = try request.tree()
        let chat: ChatRequestTranslation
        do {
            chat = try AnthropicClientTranslation.chatRequest(from: tree.body)
        } catch {
            throw GatewayError(status: .badRequest, message: error.message, type: "invalid_request_error", param: error.param)
        }
        if request.endpoint == .messagesCountTokens {
            let answer: JSONValue = .object(["input_tokens": .number(Double(Self.estimatedInputTokens(chat.body)))])
            let script = MockUpstream.json(status: 200, ByteBuffer(bytes: answer.jsonBytes), afterMilliseconds: 0)
            return MockPlayback(script: script, loop: loop, handler: handler)
        }
        var body = chat.body
        body["model"] = .string(backend.upstreamModel)
        if request.stream { body["stream_options"] = .object(["include_usage": .bool(true)]) }
        var bytes = ByteBuffer()
        bytes.writeBytes(JSONValue.object(body).jsonBytes)
        var chatRequest = request
        chatRequest.endpoint = .chatCompletions
        chatRequest.body = bytes
        chatRequest.forwardedHeaders.removeAll { $0.0 == "anthropic-version" || $0.0 == "anthropic-beta" }
        let translator = ChatAnswerTranslator(
            .anthropic(AnthropicClientStreamTranslator()), stream: request.stream, handler: handler, maxEventBytes: maxEventBytes)
        translator.inner = try start(chatRequest, to: backend, settings: settings, on: loop, handler: translator)
        return translator
    }

    /// About four characters a token over the messages' text and the tool definitions.
    static func estimatedInputTokens(_ chat: [String: JSONValue]) -> Int {
        var characters = MockUpstream.promptText(in: chat).count
        if let tools = chat["tools"] { characters += tools.jsonBytes.count }
        return max(1, (characters + 3) / 4)
    }
}

extension EffectiveConfiguration.Backend {
    /// Whether the backend answers in Anthropic's Messages format: an `anthropic` provider, or a mock that speaks it.
    var speaksAnthropic: Bool {
        switch provider.spec.format {
        case .anthropic: true
        case .mock: provider.spec.speaks == .anthropic
        case .openai, .azure, .ollama: false
        }
    }
}
