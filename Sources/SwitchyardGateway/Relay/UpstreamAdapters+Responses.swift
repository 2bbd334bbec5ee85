import Foundation
import HTTPTypes
import NIOCore
import NIOHTTP1
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
        if backend.provider.spec.speaksResponses {
            var body = request.body
            if let deployment = backend.deployment, deployment != backend.upstreamModel, backend.provider.spec.format == .azure {
                body = Self.settingModel(deployment, in: request.body)
            }
            let route = Self.responsesRoute(of: backend)
            return try send(request, body: body, path: route.path, headers: route.headers, provider: backend.provider, on: loop, handler: handler)
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

    /// Reads (`GET`) or deletes (`DELETE`) a response stored by the backend's provider: `subpath` is
    /// `{id}` or `{id}/input_items` as the client sent it, `query` its query string.
    func startStoredResponse(
        _ request: OutgoingRequest, method: HTTPMethod, subpath: String, query: String?, to backend: EffectiveConfiguration.Backend,
        on loop: any EventLoop, handler: any UpstreamResponseHandler
    ) throws(GatewayError) -> UpstreamCall {
        let route = Self.responsesRoute(of: backend)
        let path = route.path + "/" + subpath + (query.map { "?" + $0 } ?? "")
        return try send(
            request, method: method, body: ByteBuffer(), path: path, headers: route.headers, provider: backend.provider, on: loop,
            handler: handler)
    }

    /// Where a provider serves the Responses API, and the key it takes: Azure's v1 API (no
    /// api-version; `model` names the deployment) with `api-key`, the others with a bearer token.
    private static func responsesRoute(of backend: EffectiveConfiguration.Backend) -> (path: String, headers: [(String, String)]) {
        switch backend.provider.spec.format {
        case .azure: ("/openai/v1/responses", backend.provider.apiKey.map { [("api-key", $0)] } ?? [])
        case .ollama: ("/v1/responses", backend.provider.apiKey.map { [("authorization", "Bearer \($0)")] } ?? [])
        default: ("/responses", backend.provider.apiKey.map { [("authorization", "Bearer \($0)")] } ?? [])
        }
    }

    /// `body` with its `model` spliced to `model`, every other byte kept.
    static func settingModel(_ model: String, in body: ByteBuffer) -> ByteBuffer {
        body.withUnsafeReadableBytes { bytes in
            guard let scan = try? RequestBodyScan.scan(bytes) else { return body }
            var rewrite = RequestBodyRewrite(scan: scan)
            rewrite.setModel(model)
            return ByteBuffer(bytes: rewrite.apply(to: bytes))
        }
    }
}
