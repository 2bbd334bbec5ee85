import Foundation
import HTTPTypes
import NIOCore
import SwitchyardCore

extension UpstreamAdapters {
    /// Starts a `/v1/responses` request: passed through with only `model` rewritten to a provider
    /// that serves the Responses API (`openai`, `azure`, or any with `responses = true`); to any
    /// other translated to chat completions (and on to Anthropic's format where the backend speaks
    /// it), with the answer translated back into a `response` or its typed events. What the
    /// translation cannot express is a 400 naming the field, which does not count against the backend.
    func startResponses(
        _ request: OutgoingRequest, to backend: EffectiveConfiguration.Backend, settings: GatewaySettings, on loop: any EventLoop,
        handler: any UpstreamResponseHandler
    ) throws(GatewayError) -> any UpstreamAttempt {
        let provider = backend.provider.spec
        if provider.speaksResponses, provider.format != .mock, provider.format != .anthropic {
            switch provider.format {
            case .azure:
                let version = OpenAIUpstream.pathSegment(provider.effectiveAPIVersion ?? "")
                let headers = backend.provider.apiKey.map { [("api-key", $0)] } ?? []
                return try send(
                    request, body: request.body, path: "/openai/responses?api-version=\(version)", headers: headers, provider: backend.provider,
                    on: loop, handler: handler)
            default:
                let headers = backend.provider.apiKey.map { [("authorization", "Bearer \($0)")] } ?? []
                let path = provider.format == .ollama ? "/v1/responses" : "/responses"
                return try send(request, body: request.body, path: path, headers: headers, provider: backend.provider, on: loop, handler: handler)
            }
        }
        let tree = try request.tree()
        let chat: ChatRequestTranslation
        do {
            chat = try ResponsesTranslation.chatRequest(from: tree.body, keepCacheMarks: backend.speaksAnthropic)
        } catch {
            throw GatewayError(status: .badRequest, message: error.message, type: "invalid_request_error", param: error.param)
        }
        var body = chat.body
        body["model"] = .string(backend.upstreamModel)
        var bytes = ByteBuffer()
        bytes.writeBytes(JSONValue.object(body).jsonBytes)
        var chatRequest = request
        chatRequest.endpoint = .chatCompletions
        chatRequest.body = bytes
        var generator = SystemRandomNumberGenerator()
        let target = ChatAnswerTranslator.Target.responses(
            ResponsesStreamTranslator(
                responseID: ResponsesTranslation.makeResponseID(using: &generator), createdAt: Int(Date().timeIntervalSince1970),
                request: tree.body),
            request: tree.body, id: ResponsesTranslation.makeResponseID(using: &generator), createdAt: Int(Date().timeIntervalSince1970))
        let translator = ChatAnswerTranslator(target, stream: request.stream, handler: handler, maxEventBytes: maxEventBytes)
        translator.inner = try start(chatRequest, to: backend, settings: settings, on: loop, handler: translator)
        return translator
    }
}
