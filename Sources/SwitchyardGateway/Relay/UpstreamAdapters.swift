import Foundation
import HTTPTypes
import NIOCore
import NIOHTTP1
import SwitchyardCore

/// Starts attempts in each provider format: OpenAI-compatible servers over the pooled client,
/// Anthropic with its answer translated as it arrives, and the built-in mock on the event loop.
package struct UpstreamAdapters: Sendable {
    let client: UpstreamClient
    let mock: MockUpstream
    /// One upstream SSE event larger than this ends the stream (`max_stream_event_bytes`).
    var maxEventBytes = ConnectionLimits().maxEventBytes

    /// Starts `request` to `backend`; the answer, in OpenAI's shape, reaches `handler` on `loop`, never
    /// before this returns. Throws when the request cannot go (a 400 the client can fix, or a 502).
    func start(
        _ request: OutgoingRequest, to backend: EffectiveConfiguration.Backend, settings: GatewaySettings, on loop: any EventLoop,
        handler: any UpstreamResponseHandler
    ) throws(GatewayError) -> any UpstreamAttempt {
        let provider = backend.provider.spec
        if !request.endpoint.isChatShaped {
            if request.endpoint == .responses {
                return try startResponses(request, to: backend, settings: settings, on: loop, handler: handler)
            }
            return try startAnthropicClient(request, to: backend, settings: settings, on: loop, handler: handler)
        }
        switch provider.format {
        case .mock:
            let tree = try request.tree()
            if provider.speaks == .anthropic {
                let translator = AnthropicAnswerTranslator(request: tree, handler: handler, maxEventBytes: maxEventBytes)
                translator.inner = MockPlayback(
                    script: try Self.script { try mock.anthropicScript(tree, backend: backend) }, loop: loop, handler: translator)
                return translator
            }
            return MockPlayback(script: try Self.script { try mock.script(tree, backend: backend) }, loop: loop, handler: handler)
        case .anthropic:
            let tree = try request.tree()
            let translated = try AnthropicUpstream.translatedRequest(tree, model: backend.upstreamModel)
            var headers = [("anthropic-version", provider.effectiveAPIVersion ?? "")]
            if let key = backend.provider.apiKey { headers.append(("x-api-key", key)) }
            let translator = AnthropicAnswerTranslator(request: tree, handler: handler, maxEventBytes: maxEventBytes)
            var body = ByteBuffer()
            body.writeBytes(translated.jsonBytes)
            translator.inner = try send(
                request, body: body, path: "/messages", headers: headers, provider: backend.provider, on: loop, handler: translator)
            return translator
        case .azure:
            // Azure routes by deployment in the path; the key goes in `api-key`.
            let deployment = OpenAIUpstream.pathSegment(backend.deployment ?? backend.upstreamModel)
            let version = OpenAIUpstream.pathSegment(provider.effectiveAPIVersion ?? "")
            let headers = backend.provider.apiKey.map { [("api-key", $0)] } ?? []
            return try send(
                request, body: request.body, path: "/openai/deployments/\(deployment)/\(request.endpoint.rawValue)?api-version=\(version)",
                headers: headers, provider: backend.provider, on: loop, handler: handler)
        case .ollama:
            let headers = backend.provider.apiKey.map { [("authorization", "Bearer \($0)")] } ?? []
            return try send(
                request, body: request.body, path: "/v1/\(request.endpoint.rawValue)", headers: headers, provider: backend.provider, on: loop,
                handler: handler)
        case .openai:
            let headers = backend.provider.apiKey.map { [("authorization", "Bearer \($0)")] } ?? []
            return try send(
                request, body: request.body, path: "/\(request.endpoint.rawValue)", headers: headers, provider: backend.provider, on: loop,
                handler: handler)
        }
    }

    static func script(_ make: () throws -> MockScript) throws(GatewayError) -> MockScript {
        do {
            return try make()
        } catch let error as GatewayError {
            throw error
        } catch {
            throw GatewayError.internalError()
        }
    }

    /// POSTs a JSON body (or sends a bodyless `GET`/`DELETE`) with the gateway's headers (request id,
    /// forwarded client headers, the provider's own).
    func send(
        _ request: OutgoingRequest, method: HTTPMethod = .POST, body: ByteBuffer, path: String, headers extra: [(String, String)],
        provider: EffectiveConfiguration.Provider, on loop: any EventLoop, handler: any UpstreamResponseHandler
    ) throws(GatewayError) -> UpstreamCall {
        guard let baseURL = provider.spec.effectiveBaseURL, let origin = client.origin(of: baseURL, on: loop) else {
            throw GatewayError.upstreamUnreachable("provider '\(provider.id)' has no usable base_url")
        }
        // Names and values were checked where they came from (the seed, the client's parsed request),
        // so the fields go out as they are.
        var fields: [(String, String)] = []
        fields.reserveCapacity(8 + extra.count + request.forwardedHeaders.count + provider.headers.count)
        fields.append(("host", origin.hostHeader))
        if method == .POST {
            fields.append(("content-type", "application/json"))
            fields.append(("content-length", String(body.readableBytes)))
        }
        fields.append(("accept", request.stream ? "text/event-stream" : "application/json"))
        fields += extra
        fields.append(("x-request-id", request.requestID))
        fields += request.forwardedHeaders
        for (name, value) in provider.headers {
            let lowercased = name.lowercased()
            fields.removeAll { $0.0.lowercased() == lowercased }
            fields.append((name, value))
        }
        if let basic = origin.basicAuthorization, !fields.contains(where: { $0.0.lowercased() == "authorization" }) {
            fields.append(("authorization", basic))
        }
        let head = UpstreamRequestHead(method: method, path: origin.basePath + path, headers: fields, body: body)
        guard let call = client.call(head, to: origin, on: loop, handler: handler) else {
            throw GatewayError.upstreamUnreachable("TLS is not available for provider '\(provider.id)'")
        }
        return call
    }
}
