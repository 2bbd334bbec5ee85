import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Metrics
import NIOCore
import SwitchyardCore

/// Sends a routed request to its backend and passes the answer to the client: whole for plain
/// answers, event by event for streams (never buffered). Records one outcome however it ends.
package struct Relay: Sendable {
    /// Plain (non-stream) upstream answers larger than this are refused.
    static let maxUpstreamBodyBytes = 64 * 1024 * 1024
    static let maxUpstreamErrorBodyBytes = 1024 * 1024

    private let openAI: OpenAIUpstream
    private let anthropic: AnthropicUpstream
    private let mock: MockUpstream
    private let sink: any OutcomeSink
    private let health: HealthRegistry

    package init(openAI: OpenAIUpstream, mock: MockUpstream, sink: any OutcomeSink, health: HealthRegistry) {
        self.openAI = openAI
        self.anthropic = AnthropicUpstream(http: openAI)
        self.mock = mock
        self.sink = sink
        self.health = health
    }

    private func adapter(for format: ProviderFormat) -> any ProviderAdapter {
        switch format {
        case .openai, .azure, .ollama: return openAI
        case .anthropic: return anthropic
        case .mock: return mock
        }
    }

    /// A backend that answered with a success head, ready to be relayed.
    struct Head: Sendable {
        var backend: EffectiveConfiguration.Backend
        var upstream: UpstreamResponse
        var headers: HTTPFields
        var headLatency: Double
        var deadline: ContinuousClock.Instant
        var draft: OutcomeDraft
    }

    /// How the attempts ended: a success head to relay, or an upstream error answer already recorded.
    enum Attempts: Sendable {
        case head(Head)
        case answered(Response)
    }

    /// Relays a routed request and returns the client's response.
    func forward(
        _ request: UpstreamRequest, decision: RouteDecision, settings: GatewaySettings, outcome draft: OutcomeDraft,
        clientWantsUsage: Bool, session: SessionContext?, logger: Logger
    ) async throws -> Response {
        if request.stream {
            return try await forwardStream(
                request, decision: decision, settings: settings, outcome: draft, clientWantsUsage: clientWantsUsage, session: session,
                logger: logger)
        }
        switch try await attempt(request, decision: decision, settings: settings, outcome: draft, session: session, logger: logger) {
        case .answered(let response):
            return response
        case .head(let head):
            return try await relayWhole(head)
        }
    }

    /// Tries the decision's backends in order, up to `1 + max_retries` attempts, moving on after a
    /// connection failure, timeout, 5xx or 429 — all before the first byte reaches the client.
    func attempt(
        _ request: UpstreamRequest, decision: RouteDecision, settings: GatewaySettings, outcome draft: OutcomeDraft,
        session: SessionContext?, logger: Logger
    ) async throws -> Attempts {
        var draft = draft
        draft.version = decision.version.name
        let versionHeader = Self.decisionHeaders(decision)
        var lastError: GatewayError?
        var attempts = 0
        for backend in decision.backends {
            guard attempts <= settings.maxRetries, !Task.isCancelled else { break }
            // With every circuit open, `weighted_failover` tries by weight anyway: no probe reservation then.
            guard decision.usesUnhealthyBackends || health.acquire(backend.label) else { continue }
            attempts += 1
            draft.failovers = attempts - 1
            draft.backend = backend.label
            var headers = versionHeader
            headers[.switchyardBackend] = backend.label
            var attemptRequest = request
            attemptRequest.body["model"] = .string(backend.upstreamModel)
            let attemptStart = ContinuousClock.now

            let upstream: UpstreamResponse
            do {
                upstream = try await adapter(for: backend.provider.spec.format).send(attemptRequest, to: backend, settings: settings)
            } catch {
                if error is CancellationError || Task.isCancelled { break }  // the client left; not the backend's fault
                if let refused = error as? GatewayError, refused.status.code < 500, refused.status != .tooManyRequests {
                    // The request cannot be put in this backend's format: the client's to fix, not a backend failure.
                    let refused = refused.adding(headers)
                    sink.record(draft.finish(status: Int(refused.status.code), error: refused.message))
                    throw refused
                }
                let gatewayError = (error as? GatewayError ?? .upstreamUnreachable("\(error)")).adding(headers)
                health.record(backend.label, success: false, latencyMilliseconds: nil, reason: gatewayError.message)
                lastError = gatewayError
                logger.info(
                    "upstream attempt failed",
                    metadata: ["request.id": .string(draft.requestID), "backend": .string(backend.label), "error": .string(gatewayError.message)])
                continue
            }
            let headLatency = OutcomeDraft.milliseconds(from: attemptStart, to: .now)

            if upstream.status >= 500 || upstream.status == 429 {
                if upstream.status == 429 {
                    health.coolDown(backend.label, until: HealthRegistry.now() + Self.retryAfterSeconds(upstream.retryAfter))
                }
                health.record(backend.label, success: false, latencyMilliseconds: nil, reason: "HTTP \(upstream.status)")
                let remaining = decision.backends.drop { $0.label != backend.label }.dropFirst()
                if attempts <= settings.maxRetries && !remaining.isEmpty {
                    _ = try? await upstream.body.collect(upTo: Self.maxUpstreamErrorBodyBytes)
                    lastError = GatewayError.badUpstreamResponse("HTTP \(upstream.status)").adding(headers)
                    continue
                }
                return .answered(try await relayUpstreamError(upstream, headers: headers, draft: draft))
            }
            guard (200..<300).contains(upstream.status) else {
                // 4xx: the request itself is at fault; another backend would refuse it too.
                health.record(backend.label, success: true, latencyMilliseconds: headLatency)
                return .answered(try await relayUpstreamError(upstream, headers: headers, draft: draft))
            }
            session?.bind(version: decision.version.name, backend: backend.label)
            let timeout = backend.provider.spec.timeoutSeconds ?? settings.requestTimeoutSeconds
            return .head(
                Head(
                    backend: backend, upstream: upstream, headers: headers, headLatency: headLatency,
                    deadline: attemptStart + .milliseconds(Int64(timeout * 1000)), draft: draft))
        }
        let error =
            lastError
            ?? GatewayError(
                status: .serviceUnavailable, message: "No backend of model '\(decision.model.name)' can take the request now.",
                type: "upstream_error", code: "no_healthy_backend"
            ).adding(versionHeader)
        sink.record(draft.finish(status: Int(error.status.code), error: error.message))
        throw error
    }

    /// Streams: when the upstream answers within `stream_keepalive_seconds` the response carries its
    /// status; otherwise the client gets its 200 and SSE headers now, `: keep-alive` comments while
    /// the attempts go on, and then the stream, or an error event if every attempt failed.
    private func forwardStream(
        _ request: UpstreamRequest, decision: RouteDecision, settings: GatewaySettings, outcome draft: OutcomeDraft,
        clientWantsUsage: Bool, session: SessionContext?, logger: Logger
    ) async throws -> Response {
        let keepAlive = Duration.milliseconds(Int64(settings.streamKeepAliveSeconds * 1000))
        let pending = PendingResult<Attempts>()
        let attempts = Task {
            do {
                pending.fulfill(
                    .success(try await attempt(request, decision: decision, settings: settings, outcome: draft, session: session, logger: logger)))
            } catch {
                pending.fulfill(.failure(error))
            }
        }
        let early = try await withTaskCancellationHandler {
            try await pending.wait(upTo: keepAlive)?.get()
        } onCancel: {
            attempts.cancel()
        }
        let relay = self
        switch early {
        case .answered(let response)?:
            return response
        case .head(let head)?:
            guard head.upstream.contentType?.hasPrefix("text/event-stream") ?? false else { return try await relayWhole(head) }
            var headers = head.headers
            Self.addStreamHeaders(&headers)
            return Response(
                status: .ok, headers: headers,
                body: ResponseBody { writer in
                    try await relay.relayStream(head, to: &writer, settings: settings, clientWantsUsage: clientWantsUsage, logger: logger)
                })
        case nil:
            var headers = Self.decisionHeaders(decision)
            Self.addStreamHeaders(&headers)
            return Response(
                status: .ok, headers: headers,
                body: ResponseBody { writer in
                    defer { attempts.cancel() }
                    var outcome: Attempts?
                    do {
                        try await writer.write(Self.keepAliveComment)
                        Self.keepAlivesSent.increment()
                        while outcome == nil {
                            outcome = try await pending.wait(upTo: keepAlive)?.get()
                            if outcome == nil {
                                try await writer.write(Self.keepAliveComment)
                                Self.keepAlivesSent.increment()
                            }
                        }
                    } catch let error as GatewayError {
                        try await writer.write(Self.errorEvent(error))
                        try await writer.finish(nil)
                        return
                    }
                    switch outcome {
                    case .head(let head)? where head.upstream.contentType?.hasPrefix("text/event-stream") ?? false:
                        try await relay.relayStream(head, to: &writer, settings: settings, clientWantsUsage: clientWantsUsage, logger: logger)
                    case .head(let head)?:
                        relay.sink.record(head.draft.finish(status: 502, error: "upstream answered a stream request without a stream"))
                        try await writer.write(Self.errorEvent(.badUpstreamResponse("the upstream answered without a stream")))
                        try await writer.finish(nil)
                    case .answered(let response)?:
                        try await writer.write(
                            Self.errorEvent(.badUpstreamResponse("the upstream answered HTTP \(response.status.code)")))
                        try await writer.finish(nil)
                    case nil:
                        try await writer.finish(nil)
                    }
                })
        }
    }

    static let keepAliveComment = ByteBuffer(string: ": keep-alive\n\n")
    /// Keep-alive comments sent, exported once a metrics backend is bootstrapped.
    /// `x-switchyard-version`, and the experiment and variant when the request met one.
    static func decisionHeaders(_ decision: RouteDecision) -> HTTPFields {
        var headers: HTTPFields = [.switchyardVersion: decision.version.name]
        if let experiment = decision.experiment {
            headers[.switchyardExperiment] = experiment.experimentID
            headers[.switchyardVariant] = experiment.variantID
        }
        return headers
    }

    static let keepAlivesSent = Counter(label: "switchyard_sse_keepalives_total")

    static func addStreamHeaders(_ headers: inout HTTPFields) {
        headers[.contentType] = "text/event-stream"
        headers[.cacheControl] = "no-cache"
        headers[.accelBuffering] = "no"
    }

    static func errorEvent(_ error: GatewayError) -> ByteBuffer {
        var event = ByteBuffer(string: "data: ")
        var json = error.jsonBody
        event.writeBuffer(&json)
        event.writeString("\n\n")
        return event
    }

    private func relayStream(
        _ head: Head, to writer: inout any ResponseBodyWriter, settings: GatewaySettings, clientWantsUsage: Bool, logger: Logger
    ) async throws {
        try await Self.relayStream(
            head.upstream.body.events(idleTimeout: settings.idleTimeoutSeconds, keepAlive: settings.streamKeepAliveSeconds), to: &writer,
            deadline: head.deadline, clientWantsUsage: clientWantsUsage, draft: head.draft, backend: head.backend,
            headLatency: head.headLatency, sink: sink, health: health, logger: logger)
    }

    /// Seconds from a `Retry-After` header (delta-seconds form), 1 s when absent, at most an hour.
    static func retryAfterSeconds(_ value: String?) -> Double {
        guard let value, let seconds = Double(value.trimmingCharacters(in: .whitespaces)), seconds >= 0 else { return 1 }
        return min(seconds, 3600)
    }

    private func relayWhole(_ head: Head) async throws -> Response {
        let (upstream, deadline, draft, backend) = (head.upstream, head.deadline, head.draft, head.backend)
        var headers = head.headers
        let provider = backend.provider.spec
        var body = ByteBuffer()
        let firstByteAt: ContinuousClock.Instant
        do {
            for try await chunk in upstream.body {
                guard ContinuousClock.now < deadline else { throw GatewayError.upstreamTimeout() }
                guard body.readableBytes + chunk.readableBytes <= Self.maxUpstreamBodyBytes else {
                    throw GatewayError.badUpstreamResponse("answer larger than \(Self.maxUpstreamBodyBytes) bytes")
                }
                body.writeImmutableBuffer(chunk)
            }
            firstByteAt = .now
        } catch {
            let gatewayError = Self.bodyReadError(error).adding(headers)
            health.record(backend.label, success: false, latencyMilliseconds: nil, reason: gatewayError.message)
            sink.record(draft.finish(status: Int(gatewayError.status.code), provider: provider, error: gatewayError.message))
            throw gatewayError
        }
        health.record(backend.label, success: true, latencyMilliseconds: head.headLatency)
        let usage = body.withUnsafeReadableBytes { UsageReader.usage(in: $0) }
        sink.record(draft.finish(status: upstream.status, firstByteAt: firstByteAt, usage: usage, provider: provider))
        headers[.contentType] = upstream.contentType ?? "application/json"
        headers[.contentLength] = String(body.readableBytes)
        return Response(status: .init(code: upstream.status), headers: headers, body: .init(byteBuffer: body))
    }

    /// An upstream's error answer goes to the client with its status when it is OpenAI-shaped JSON,
    /// otherwise as a 502 that names the upstream status.
    private func relayUpstreamError(_ upstream: UpstreamResponse, headers: HTTPFields, draft: OutcomeDraft) async throws -> Response {
        let body = try? await upstream.body.collect(upTo: Self.maxUpstreamErrorBodyBytes)
        let isErrorJSON =
            body.map { buffer in
                (upstream.contentType?.contains("json") ?? false) && buffer.contains("\"error\"")
            } ?? false
        guard let body, isErrorJSON else {
            let error = GatewayError.badUpstreamResponse("HTTP \(upstream.status)").adding(headers)
            sink.record(draft.finish(status: 502, error: error.message))
            throw error
        }
        sink.record(draft.finish(status: upstream.status, error: "upstream HTTP \(upstream.status)"))
        var headers = headers
        headers[.contentType] = "application/json"
        headers[.contentLength] = String(body.readableBytes)
        return Response(status: .init(code: upstream.status), headers: headers, body: .init(byteBuffer: body))
    }

    private static func bodyReadError(_ error: any Error) -> GatewayError {
        switch error {
        case let error as GatewayError: return error
        case let error as HTTPClientError: return OpenAIUpstream.gatewayError(for: error)
        default: return .upstreamUnreachable("\(error)")
        }
    }

    /// Passes the upstream's events on as they arrive. Takes usage from the stream and drops the
    /// usage-only chunk the client did not ask for. An upstream that fails or stops before `[DONE]`
    /// ends the client's stream with an error event and no `[DONE]`, never as a clean end.
    private static func relayStream(
        _ body: AsyncThrowingStream<StreamItem, any Error>, to writer: inout any ResponseBodyWriter, deadline: ContinuousClock.Instant,
        clientWantsUsage: Bool,
        draft: OutcomeDraft, backend: EffectiveConfiguration.Backend, headLatency: Double, sink: any OutcomeSink,
        health: HealthRegistry, logger: Logger
    ) async throws {
        let provider = backend.provider.spec
        var scanner = ServerSentEventScanner()
        var usage: TokenUsage?
        var sawDone = false
        var firstByteAt: ContinuousClock.Instant?
        var upstreamFailure: GatewayError?
        var relayedEvents = 0
        var iterator = body.makeAsyncIterator()
        while true {
            let item: StreamItem?
            do {
                item = try await iterator.next()
            } catch {
                if Task.isCancelled {
                    sink.record(
                        draft.finish(
                            status: 499, firstByteAt: firstByteAt, usage: usage ?? draft.estimatedUsage(events: relayedEvents), provider: provider,
                            error: "client went away"))
                    throw error
                }
                upstreamFailure = bodyReadError(error)
                break
            }
            guard let item else { break }
            guard case .chunk(let chunk) = item else {
                // The upstream is quiet: a comment between events keeps intermediaries from timing out.
                do {
                    try await writer.write(keepAliveComment)
                    keepAlivesSent.increment()
                } catch {
                    sink.record(
                        draft.finish(
                            status: 499, firstByteAt: firstByteAt, usage: usage ?? draft.estimatedUsage(events: relayedEvents), provider: provider,
                            error: "client went away"))
                    throw error
                }
                continue
            }
            let now = ContinuousClock.now
            if firstByteAt == nil { firstByteAt = now }
            if now >= deadline {
                upstreamFailure = .upstreamTimeout()
                break
            }
            var output = ByteBuffer()
            for event in scanner.events(appending: chunk) {
                if event.contains("[DONE]") { sawDone = true }
                if event.contains("\"usage\"") {
                    let found = Self.withEventData(event) { UsageReader.usage(in: $0) } ?? nil
                    if let found {
                        usage = found
                        if !clientWantsUsage && Self.withEventData(event, UsageReader.isUsageOnlyChunk) == true { continue }
                    }
                }
                output.writeImmutableBuffer(event)
                relayedEvents += 1
            }
            guard output.readableBytes > 0 else { continue }
            do {
                try await writer.write(output)
            } catch {
                sink.record(
                    draft.finish(
                        status: 499, firstByteAt: firstByteAt, usage: usage ?? draft.estimatedUsage(events: relayedEvents), provider: provider,
                        error: "client went away"))
                throw error
            }
        }
        let remainder = scanner.remainder
        if remainder.readableBytes > 0 {
            if remainder.contains("[DONE]") { sawDone = true }
            try? await writer.write(remainder)
        }
        if upstreamFailure == nil && !sawDone {
            upstreamFailure = .badUpstreamResponse("stream ended before [DONE]")
        }
        if let upstreamFailure {
            logger.warning(
                "upstream stream failed", metadata: ["request.id": .string(draft.requestID), "error": .string(upstreamFailure.message)])
            try? await writer.write(errorEvent(upstreamFailure))
            health.record(backend.label, success: false, latencyMilliseconds: nil, reason: upstreamFailure.message)
            sink.record(
                draft.finish(
                    status: Int(upstreamFailure.status.code), firstByteAt: firstByteAt, usage: usage, provider: provider,
                    error: upstreamFailure.message))
        } else {
            health.record(backend.label, success: true, latencyMilliseconds: headLatency)
            sink.record(draft.finish(status: 200, firstByteAt: firstByteAt, usage: usage, provider: provider))
        }
        try await writer.finish(nil)
    }

    /// Calls `body` with the JSON payload of one `data:` event (from its first `{` to its last `}`).
    private static func withEventData<Result>(_ event: ByteBuffer, _ body: (UnsafeRawBufferPointer) -> Result) -> Result? {
        event.withUnsafeReadableBytes { bytes -> Result? in
            guard let start = bytes.firstIndex(of: UInt8(ascii: "{")), let end = bytes.lastIndex(of: UInt8(ascii: "}")), start < end
            else { return nil }
            return body(UnsafeRawBufferPointer(rebasing: bytes[start...end]))
        }
    }
}
