import Foundation
import HTTPTypes
import NIOCore
import NIOHTTP1
import SwitchyardCore

/// One request on its way to a backend: the body already spliced for that backend.
struct OutgoingRequest {
    var endpoint: Endpoint
    var body: ByteBuffer
    var stream: Bool
    var requestID: String
    /// Client headers from the allow-list (and the trace context), passed on as they came.
    var forwardedHeaders: [(String, String)]

    /// The body as a tree, for the paths that need one (translation, the mock).
    func tree() throws(GatewayError) -> UpstreamRequest {
        guard case .object(let object)? = try? body.withUnsafeReadableBytes({ try JSONValue.parse(buffer: $0) }) else {
            throw GatewayError.invalidRequest("The request body must be a JSON object.")
        }
        return UpstreamRequest(endpoint: endpoint, body: object, stream: stream, requestID: requestID, forwardedHeaders: forwardedHeaders)
    }
}

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

    private static func script(_ make: () throws -> MockScript) throws(GatewayError) -> MockScript {
        do {
            return try make()
        } catch let error as GatewayError {
            throw error
        } catch {
            throw GatewayError.internalError()
        }
    }

    /// POSTs a JSON body with the gateway's headers (request id, forwarded client headers, the provider's own).
    private func send(
        _ request: OutgoingRequest, body: ByteBuffer, path: String, headers extra: [(String, String)],
        provider: EffectiveConfiguration.Provider, on loop: any EventLoop, handler: any UpstreamResponseHandler
    ) throws(GatewayError) -> UpstreamCall {
        guard let baseURL = provider.spec.effectiveBaseURL, let origin = client.origin(of: baseURL, on: loop) else {
            throw GatewayError.upstreamUnreachable("provider '\(provider.id)' has no usable base_url")
        }
        // Names and values were checked where they came from (the seed, the client's parsed request),
        // so the fields go out without `HTTPHeaders.add`'s per-header checks.
        var fields: [(String, String)] = []
        fields.reserveCapacity(8 + extra.count + request.forwardedHeaders.count + provider.headers.count)
        fields.append(("host", origin.hostHeader))
        fields.append(("content-type", "application/json"))
        fields.append(("content-length", String(body.readableBytes)))
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
        let head = UpstreamRequestHead(path: origin.basePath + path, headers: HTTPHeaders(fields), body: body)
        guard let call = client.call(head, to: origin, on: loop, handler: handler) else {
            throw GatewayError.upstreamUnreachable("TLS is not available for provider '\(provider.id)'")
        }
        return call
    }
}

/// Turns an Anthropic Messages answer into the OpenAI answer it stands for, as it arrives: errors and
/// whole messages once complete, event streams event by event.
final class AnthropicAnswerTranslator: UpstreamResponseHandler, UpstreamAttempt {
    private enum Mode {
        case waiting
        case whole(status: Int)
        case error(status: Int, retryAfter: String?)
        case stream
        case done
    }

    private let handler: any UpstreamResponseHandler
    private let stream: Bool
    var inner: (any UpstreamAttempt)?
    private var mode = Mode.waiting
    private var collected = ByteBuffer()
    private var events = ServerSentEventSplitter()
    private let maxEventBytes: Int
    private var translator: AnthropicStreamTranslator

    init(request: UpstreamRequest, handler: any UpstreamResponseHandler, maxEventBytes: Int) {
        self.handler = handler
        self.maxEventBytes = maxEventBytes
        self.stream = request.stream
        let includeUsage = request.body["stream_options"]?["include_usage"]?.boolValue == true
        translator = AnthropicStreamTranslator(created: Int(Date().timeIntervalSince1970), includeUsage: includeUsage)
    }

    func cancel() {
        mode = .done
        inner?.cancel()
        inner = nil
    }

    func pauseReading() { inner?.pauseReading() }
    func resumeReading() { inner?.resumeReading() }

    func upstreamHead(status: Int, headers: HTTPHeaders) {
        guard (200..<300).contains(status) else {
            mode = .error(status: status, retryAfter: headers.first(name: "retry-after"))
            return
        }
        if stream, headers.first(name: "content-type")?.hasPrefix("text/event-stream") ?? false {
            mode = .stream
            var translated = HTTPHeaders()
            translated.add(name: "content-type", value: "text/event-stream")
            handler.upstreamHead(status: 200, headers: translated)
        } else {
            mode = .whole(status: status)
        }
    }

    func upstreamBody(_ buffer: ByteBuffer) {
        switch mode {
        case .whole, .error:
            guard collected.readableBytes + buffer.readableBytes <= AnthropicUpstream.maxResponseBytes else { return }
            var buffer = buffer
            collected.writeBuffer(&buffer)
        case .stream:
            var output = ByteBuffer()
            var buffer = buffer
            let outcome = events.split(&buffer, maxEventBytes: maxEventBytes) { event in
                guard !translator.finished else { return false }
                if let data = AnthropicUpstream.eventData(event), let json = try? JSONValue.parse(data) {
                    for payload in translator.translate(json) {
                        output.writeString("data: \(payload)\n\n")
                    }
                }
                return false
            } write: { _ in
            }
            if outcome == .eventTooLarge {
                mode = .done
                inner?.cancel()
                inner = nil
                handler.upstreamFailed(
                    UpstreamFailure(kind: .answer, detail: "", error: .badUpstreamResponse("an event larger than \(maxEventBytes) bytes")))
                return
            }
            if output.readableBytes > 0 { handler.upstreamBody(output) }
            if translator.finished { finishStream() }
        case .waiting, .done:
            break
        }
    }

    func upstreamReadComplete() {
        handler.upstreamReadComplete()
    }

    func upstreamEnd() {
        switch mode {
        case .error(let status, let retryAfter):
            mode = .done
            let json = try? collected.withUnsafeReadableBytes { try JSONValue.parse(buffer: $0) }
            let (translatedStatus, body) = AnthropicTranslation.error(status: status, body: json)
            var headers = HTTPHeaders()
            headers.add(name: "content-type", value: "application/json")
            if let retryAfter { headers.add(name: "retry-after", value: retryAfter) }
            deliverWhole(status: translatedStatus, headers: headers, body: body)
        case .whole:
            mode = .done
            guard let message = try? collected.withUnsafeReadableBytes({ try JSONValue.parse(buffer: $0) }), message["type"]?.stringValue == "message"
            else {
                handler.upstreamFailed(
                    UpstreamFailure(kind: .answer, detail: "", error: .badUpstreamResponse("the Anthropic upstream's answer is not a message")))
                return
            }
            var headers = HTTPHeaders()
            headers.add(name: "content-type", value: "application/json")
            deliverWhole(status: 200, headers: headers, body: AnthropicTranslation.response(message, created: Int(Date().timeIntervalSince1970)))
        case .stream:
            finishStream()
        case .waiting, .done:
            break
        }
    }

    func upstreamFailed(_ failure: UpstreamFailure) {
        mode = .done
        handler.upstreamFailed(failure)
    }

    private func finishStream() {
        guard case .stream = mode else { return }
        mode = .done
        inner?.cancel()
        inner = nil
        if let failure = translator.failure {
            let error = failure.body["error"]
            let gatewayError = GatewayError(
                status: .init(code: failure.status), message: error?["message"]?.stringValue ?? "Anthropic stream error",
                type: error?["type"]?.stringValue ?? "server_error", code: error?["code"]?.stringValue.map(GatewayError.Code.fromUpstream))
            handler.upstreamFailed(UpstreamFailure(kind: .answer, detail: "", error: gatewayError))
            return
        }
        guard translator.finished else {
            handler.upstreamFailed(
                UpstreamFailure(kind: .answer, detail: "", error: .badUpstreamResponse("Anthropic stream ended before message_stop")))
            return
        }
        handler.upstreamReadComplete()
        handler.upstreamEnd()
    }

    private func deliverWhole(status: Int, headers: HTTPHeaders, body: JSONValue) {
        var buffer = ByteBuffer()
        buffer.writeBytes(body.jsonBytes)
        handler.upstreamHead(status: status, headers: headers)
        handler.upstreamBody(buffer)
        handler.upstreamEnd()
    }
}

/// Plays the mock's answer on the event loop: the head, then each event at its time.
final class MockPlayback: UpstreamAttempt {
    private let script: MockScript
    private let loop: any EventLoop
    private var handler: (any UpstreamResponseHandler)?
    private var next = 0
    private var scheduled: Scheduled<Void>?
    private var paused = false
    private var waitingForResume = false
    private var headSent = false

    init(script: MockScript, loop: any EventLoop, handler: any UpstreamResponseHandler) {
        self.script = script
        self.loop = loop
        self.handler = handler
        if script.headFirst {
            loop.assumeIsolatedUnsafeUnchecked().execute { self.sendHead() }
        }
        schedule(afterMilliseconds: script.firstAfterMilliseconds)
    }

    func cancel() {
        handler = nil
        scheduled?.cancel()
        scheduled = nil
    }

    func pauseReading() { paused = true }

    func resumeReading() {
        paused = false
        if waitingForResume {
            waitingForResume = false
            schedule(afterMilliseconds: 0)
        }
    }

    private func sendHead() {
        guard !headSent, let handler else { return }
        headSent = true
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: script.contentType)
        handler.upstreamHead(status: script.status, headers: headers)
    }

    private func schedule(afterMilliseconds milliseconds: Double) {
        scheduled = loop.assumeIsolatedUnsafeUnchecked().scheduleTask(in: .nanoseconds(Int64(max(milliseconds, 0) * 1_000_000))) {
            self.scheduled = nil
            self.emit()
        }
    }

    /// Sends the events due now: the next one, and every unpaced one after it.
    private func emit() {
        guard handler != nil else { return }
        sendHead()
        guard !paused else {
            waitingForResume = true
            return
        }
        while next < script.events.count {
            guard let handler else { return }
            handler.upstreamBody(script.events[next].bytes)
            next += 1
            if next < script.events.count && script.events[next].paced { break }
        }
        handler?.upstreamReadComplete()
        if next < script.events.count {
            schedule(afterMilliseconds: script.gapMilliseconds)
        } else {
            let handler = self.handler
            self.handler = nil
            handler?.upstreamEnd()
        }
    }
}
