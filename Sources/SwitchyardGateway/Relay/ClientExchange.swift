import Foundation
import HTTPTypes
import Logging
import NIOCore
import NIOHTTP1
import Prometheus
import SwitchyardCore

/// Where an exchange writes its answer: the client's connection, on its event loop.
protocol ClientResponseWriter: AnyObject {
    var isWritable: Bool { get }
    func writeHead(_ head: HTTPResponseHead)
    func writeBody(_ buffer: ByteBuffer)
    /// Writes a whole answer (its `headers` carry its `content-length`) and ends the response.
    func writeWhole(status: HTTPResponseStatus, headers: [(String, String)], body: ByteBuffer)
    func flush()
    /// Ends the response; the exchange is over.
    func writeEnd()
    /// Ends an answer that broke off after its head: the connection is closed, so that the client
    /// sees a cut answer rather than waiting for the rest of a body it was promised.
    func abandonResponse()
    /// Calls the exchange's `checkDeadlines()` at `deadline`, or no more for `nil`: the connection's one
    /// timer serves its exchange too, so that a request arms and cancels no timer of its own.
    func wakeExchange(at deadline: NIODeadline?)
}

/// Something in flight upstream for one attempt: a network call, the mock, or a translation around either.
protocol UpstreamAttempt: AnyObject {
    func cancel()
    func pauseReading()
    func resumeReading()
}

extension UpstreamCall: UpstreamAttempt {}

// Over 400 lines on purpose: the exchange is one state machine (phases, attempts, the relay and the
// deadlines) over private state that every part reads; split across files, that state would have
// to be visible to the whole module.

/// One client-API request from its body to its last byte, on the client connection's event loop:
/// authenticate, read the fields routing needs, route, admit, try backends in order until one answers
/// (failover only before the first byte reaches the client), relay the answer as its bytes arrive, and
/// record one outcome after the answer is written. No task, no actor, no thread hop.
final class ClientExchange: UpstreamResponseHandler {
    private enum Phase {
        case receiving
        case waitingForHead
        case collectingAnswer
        case collectingError
        case streaming
        case finished
    }

    /// Plain (non-stream) upstream answers larger than this are refused.
    static let maxUpstreamBodyBytes = 64 * 1024 * 1024
    static let maxUpstreamErrorBodyBytes = 1024 * 1024

    private let services: ClientAPIServices
    private let writer: any ClientResponseWriter
    private let loop: any EventLoop
    private let requestHead: HTTPRequestHead
    private let fields: ClientRequestHeaders
    let endpoint: Endpoint
    let requestID: String
    /// The connection's memo of its last token's digest.
    private let tokenMemo: TokenDigestMemo
    private let startedAt = ContinuousClock.now

    private var phase = Phase.receiving
    private var settings = GatewaySettings()
    private var body: ClientRequestBody?
    // What routing chose, kept field by field: the exchange reads these on every attempt and chunk,
    // and a whole `RouteDecision` or `ClientRequestBody` bound with `guard let` is a copy of each.
    private var backends: [EffectiveConfiguration.Backend] = []
    private var usesUnhealthyBackends = false
    private var modelName = ""
    private var versionName = ""
    private var versionParams: [String: JSONValue] = [:]
    private var isStream = false
    private var clientWantsUsage = false
    private var draft: OutcomeDraft?
    private var session: SessionContext?
    /// Version, experiment, trace and rate-limit headers of every answer after routing.
    private var routedHeaders: [(String, String)] = []
    /// Where a copy of this request goes once the primary request has left.
    private var shadowRoute: ShadowRoute?
    /// The copy in flight, waiting for this answer's text to compare with.
    private var shadowPair: ShadowPair?
    /// A shadowed stream's text so far.
    private var streamedText = ""
    /// Whether the id of the response this answer carries is still to be bound to its backend.
    private var bindsStoredResponse = false

    private var nextBackend = 0
    private var attempts = 0
    /// Switchyard gateways the request passed before this one (`x-switchyard-hops`).
    private var hops = 0
    private var lastError: GatewayError?
    private var lastFailedBackend: String?
    private var attempt: (any UpstreamAttempt)?
    private var backend: EffectiveConfiguration.Backend?
    private var attemptStart = ContinuousClock.now
    private var headLatency = 0.0
    /// The upstream status of the current attempt, once its head arrived.
    private var attemptStatus: Int?

    /// The server span of this request; each attempt is a child span of it.
    private var trace = TraceContext(traceID: "", spanID: "", flags: "00")
    /// Routing choices and trace ids.
    private var random: SplitMix64
    private var upstreamTraceparent = ""
    /// The spans to export, when traces are exported and the request is sampled.
    private var requestTrace: RequestTrace?

    private var upstreamStatus = 200
    private var upstreamContentType: String?
    private var collected = ByteBuffer()
    private var clientHeadSent = false
    private var events = ServerSentEventSplitter()
    private var usage: TokenUsage?
    private var sawDone = false
    private var firstByteAt: ContinuousClock.Instant?
    private var relayedEvents = 0
    private var wroteSinceFlush = false

    private var firstByteDeadline: NIODeadline?
    private var totalDeadline: NIODeadline?
    private var lastUpstreamActivity = NIODeadline.now()
    private var lastClientWrite = NIODeadline.now()

    init(
        services: ClientAPIServices, writer: any ClientResponseWriter, loop: any EventLoop, head: HTTPRequestHead,
        fields: ClientRequestHeaders, endpoint: Endpoint, requestID: String, tokenMemo: TokenDigestMemo, random: SplitMix64
    ) {
        self.tokenMemo = tokenMemo
        self.random = random
        self.services = services
        self.writer = writer
        self.loop = loop
        self.requestHead = head
        self.fields = fields
        self.endpoint = endpoint
        self.requestID = requestID
        services.gauges.exchangeStarted()
    }

    deinit {
        services.gauges.exchangeEnded()
    }

    // MARK: Admission and routing

    /// The whole body has arrived: route and send.
    func start(body bytes: ByteBuffer) {
        let configuration = services.configuration.current
        settings = configuration.settings
        guard let user = Self.authenticate(fields, in: configuration, memo: tokenMemo) else {
            return fail(.invalidAPIKey())
        }
        let hops = max(0, fields.hops.flatMap { Int($0) } ?? 0)
        guard hops < Relay.maximumHops else { return fail(.loopDetected(hops: hops)) }
        self.hops = hops
        let body: ClientRequestBody
        do {
            body = try ClientRequestBody(bytes, endpoint: endpoint)
        } catch {
            return fail(error)
        }
        self.body = body
        // A follow-up to a stored response must reach the backend holding it: its id is the conversation.
        let sessionID = body.previousResponseID ?? fields.sessionID
        let estimate = body.estimate
        let routeRequest = RouteRequest(
            model: body.model, user: user, endUser: body.endUser, sessionID: sessionID,
            session: sessionID.flatMap { services.sessions.binding(for: $0, user: user.id) },
            preferredRegion: fields.region,
            excludedProviders: LiveRouter.excludedProviders(fields.excludedProviders),
            estimate: estimate)
        let decision: RouteDecision
        do {
            decision = try services.routing.route(routeRequest, in: configuration, using: &random)
        } catch let error as GatewayError {
            return fail(error)
        } catch {
            return fail(.internalError())
        }
        let routed = Routed(
            decision: decision, user: user, estimate: estimate, sessionID: sessionID, sessionTTL: configuration.settings.sessionTTLSeconds)
        let tokens = estimate.inputTokens + estimate.outputTokens
        guard services.rateLimits.sharesLimits(of: user) else {
            // The budget is only read; the rate limit takes a slot, so it comes last.
            if let overBudget = services.budgets.check(user) { return fail(overBudget) }
            let admission = services.rateLimits.admit(user, tokens: tokens)
            if let admission, !admission.allowed { return fail(RateLimits.error(for: admission)) }
            return proceed(routed, admission: admission)
        }
        // Decided with every instance on the shared database: one round trip, then on with the request here.
        services.rateLimits.admitShared(user, tokens: tokens, on: loop).assumeIsolated().whenComplete { [self] result in
            switch services.rateLimits.verdict(of: result, for: user, tokens: tokens) {
            case .success(let admission):
                // The client left meanwhile: the tokens this instance reserved (deciding alone) go back.
                guard phase == .receiving else { return services.rateLimits.release(admission, of: user) }
                proceed(routed, admission: admission)
            case .failure(let refusal):
                guard phase == .receiving else { return }
                fail(refusal)
            }
        }
    }

    /// What routing and the request's body said, kept while an admission is decided elsewhere.
    private struct Routed {
        var decision: RouteDecision
        var user: UserSpec
        var estimate: RequestEstimate
        var sessionID: String?
        var sessionTTL: Double
    }

    /// Admitted: traces, headers, the outcome's draft, and the first attempt.
    private func proceed(_ routed: Routed, admission: RateLimiter.Decision?) {
        guard let body else { return }
        let decision = routed.decision
        let user = routed.user
        let estimate = routed.estimate
        let sessionID = routed.sessionID
        let parent = fields.traceparent.flatMap(TraceContext.init(traceparent:))
        let trace = parent.map { $0.child(using: &random) } ?? TraceContext.start(using: &random)
        self.trace = trace
        if services.exportsTraces && trace.isSampled {
            requestTrace = RequestTrace(
                traceID: trace.traceID, spanID: trace.spanID, parentSpanID: parent?.spanID,
                operation: endpoint.operationName)
        }
        routedHeaders.append(("x-switchyard-version", decision.version.name))
        if let experiment = decision.experiment {
            routedHeaders.append(("x-switchyard-experiment", experiment.experimentID))
            routedHeaders.append(("x-switchyard-variant", experiment.variantID))
        }
        routedHeaders.append(("traceparent", trace.traceparent))
        if let admission {
            for field in RateLimits.headers(for: admission) { routedHeaders.append((field.name.canonicalName, field.value)) }
        }
        // A variant naming another model is recorded under the model that served it.
        var draft = OutcomeDraft(
            requestID: requestID, userID: user.id, model: decision.model.name, endpoint: endpoint, stream: body.stream, startedAt: startedAt)
        draft.experiment = decision.experiment
        draft.traceID = trace.traceID
        draft.fellBackFrom = decision.unhealthyVersion
        draft.rateLimitTicket = admission?.ticket
        draft.estimatedInputTokens = estimate.inputTokens
        draft.version = decision.version.name
        self.draft = draft
        backends = decision.backends
        usesUnhealthyBackends = decision.usesUnhealthyBackends
        modelName = decision.model.name
        versionName = decision.version.name
        versionParams = decision.version.params
        isStream = body.stream
        clientWantsUsage = body.clientWantsUsage
        if let shadow = decision.shadow {
            if shadow.backends.isEmpty {
                services.shadows.count(model: modelName, version: shadow.version.name, .droppedNoBackend)
            } else {
                shadowRoute = shadow
            }
        }
        session = sessionID.map {
            SessionContext(id: $0, user: user.id, model: decision.model.name, table: services.sessions, ttl: routed.sessionTTL)
        }
        lastClientWrite = .now()
        tryNextBackend()
    }

    /// The enabled user whose token came as `Authorization: Bearer …` or `x-api-key`.
    static func authenticate(_ fields: ClientRequestHeaders, in configuration: EffectiveConfiguration, memo: TokenDigestMemo) -> UserSpec? {
        let token =
            fields.authorization.flatMap(BearerToken.credentials(inAuthorization:))
            ?? fields.apiKey.flatMap(BearerToken.credentials(inAPIKey:))
        guard let token else { return nil }
        return configuration.user(forToken: token, memo: memo)
    }

    // MARK: Attempts

    /// Tries the decision's backends in order, up to `1 + max_retries` attempts, moving on after a
    /// connection failure, timeout, 5xx or 429 — all before the first byte reaches the client.
    private func tryNextBackend() {
        guard phase != .finished else { return }
        while nextBackend < backends.count {
            guard attempts <= settings.maxRetries else { break }
            let backend = backends[nextBackend]
            nextBackend += 1
            // With every circuit open, `weighted_failover` tries by weight anyway: no probe reservation then.
            guard usesUnhealthyBackends || services.health.acquire(backend.label) else { continue }
            attempts += 1
            draft?.failovers = attempts - 1
            draft?.backend = backend.label
            start(backend)
            return
        }
        let error =
            lastError
            ?? .noHealthyBackend("No backend of model '\(modelName)' can take the request now.")
        finishWithError(error, backendLabel: lastFailedBackend)
    }

    private func start(_ backend: EffectiveConfiguration.Backend) {
        guard
            let upstreamBody = body?.upstreamBody(
                model: backend.upstreamModel, params: versionParams, endpoint: endpoint, allocator: ByteBufferAllocator())
        else { return }
        self.backend = backend
        phase = .waitingForHead
        attemptStart = .now
        attemptStatus = nil
        let attemptSpan = trace.child(using: &random)
        upstreamTraceparent = attemptSpan.traceparent
        if requestTrace != nil, let draft {
            requestTrace?.attempts.append(
                UpstreamAttemptTrace(
                    spanID: attemptSpan.spanID, backend: backend.label, providerID: backend.provider.id,
                    providerFormat: backend.provider.spec.format, upstreamModel: backend.upstreamModel,
                    startTime: draft.wallClock(at: attemptStart)))
        }
        let now = NIODeadline.now()
        firstByteDeadline = now + Self.timeAmount(seconds: settings.firstByteTimeout(for: backend.provider.spec))
        totalDeadline = now + Self.timeAmount(seconds: backend.provider.spec.timeoutSeconds ?? settings.requestTimeoutSeconds)
        armTimer()
        let request = OutgoingRequest(
            endpoint: endpoint, body: upstreamBody, stream: isStream, requestID: requestID, forwardedHeaders: forwardedHeaders())
        do {
            attempt = try services.adapters.start(request, to: backend, settings: settings, on: loop, handler: self)
            if shadowRoute != nil { startShadow() }
        } catch {
            // The request cannot be put in this backend's format: the client's to fix, not a backend failure.
            if error.status.code < 500, error.status != .tooManyRequests {
                attempt = nil
                finishWithError(error, backendLabel: backend.label, outcomeError: error.message)
                return
            }
            attemptFailed(error)
        }
    }

    /// Client headers from the allow-list, and the trace context of the upstream span.
    private func forwardedHeaders(traceparent: String? = nil) -> [(String, String)] {
        var forwarded = fields.passedOn(anthropic: endpoint.isAnthropic)
        forwarded.append(("traceparent", traceparent ?? upstreamTraceparent))
        forwarded.append((Relay.hopsHeader, Relay.hopCounts[hops]))
        return forwarded
    }

    /// Sends the copy to the shadow version, when a slot is free: once, after the primary request left.
    private func startShadow() {
        guard let route = shadowRoute, let body, let draft else { return }
        shadowRoute = nil
        guard services.shadows.acquire(model: modelName, version: route.version.name, limit: route.spec.maxInFlight) else { return }
        let pair = ShadowPair(sink: services.sink, keepExamples: route.spec.keepExamples)
        shadowPair = pair
        ShadowExchange(
            services: services, loop: loop, route: route, body: body, endpoint: endpoint, isStream: isStream, requestID: requestID,
            userID: draft.userID, model: modelName, forwardedHeaders: forwardedHeaders(traceparent: trace.child(using: &random).traceparent),
            settings: settings, pair: pair
        ).start()
    }

    /// The text of the answer the client got, for the shadow comparison.
    private func answerText() -> String? {
        if isStream && clientHeadSent { return streamedText }
        guard let answer = collected.withUnsafeReadableBytes({ try? JSONValue.parse(buffer: $0) }) else { return nil }
        return AnswerText.ofCompletion(answer)
    }

    /// The current attempt failed before its answer began: counted against the backend, then the next one.
    private func attemptFailed(_ error: GatewayError) {
        guard let backend else { return }
        attempt?.cancel()
        attempt = nil
        endAttemptSpan(errorType: error.code?.rawValue ?? error.type)
        services.health.record(backend.label, success: false, latencyMilliseconds: nil, reason: error.message)
        lastError = error
        lastFailedBackend = backend.label
        services.logger.info(
            "upstream attempt failed",
            metadata: ["request.id": .string(requestID), "backend": .string(backend.label), "error": .string(error.message)])
        tryNextBackend()
    }

    // MARK: The upstream's answer

    func upstreamHead(status: Int, headers: HTTPHeaders) {
        guard phase == .waitingForHead, let backend else { return }
        headLatency = OutcomeDraft.milliseconds(from: attemptStart, to: .now)
        firstByteDeadline = nil
        lastUpstreamActivity = .now()
        upstreamStatus = status
        attemptStatus = status
        upstreamContentType = headers.first(name: "content-type")
        collected.clear()
        // 508: a gateway further on found a loop; every backend of this provider would lead into it again.
        if (status >= 500 && status != 508) || status == 429 {
            if status == 429 {
                services.health.coolDown(
                    backend.label, until: HealthRegistry.now() + Relay.retryAfterSeconds(headers.first(name: "retry-after")))
            }
            services.health.record(backend.label, success: false, latencyMilliseconds: nil, reason: "HTTP \(status)")
            if attempts <= settings.maxRetries && nextBackend < backends.count {
                attempt?.cancel()
                attempt = nil
                endAttemptSpan(errorType: String(status))
                lastError = .badUpstreamResponse("HTTP \(status)")
                lastFailedBackend = backend.label
                tryNextBackend()
                return
            }
            phase = .collectingError
            return
        }
        guard (200..<300).contains(status) else {
            // 4xx: the request itself is at fault; another backend would refuse it too.
            services.health.record(backend.label, success: true, latencyMilliseconds: headLatency)
            phase = .collectingError
            return
        }
        session?.bind(version: versionName, backend: backend.label)
        bindsStoredResponse = endpoint == .responses && backend.provider.spec.speaksResponses && body?.storesResponse == true
        let isEventStream = upstreamContentType?.hasPrefix("text/event-stream") ?? false
        if isStream && isEventStream {
            phase = .streaming
            if !clientHeadSent { writeStreamHead(backendLabel: backend.label) }
        } else if clientHeadSent {
            attempt?.cancel()
            attempt = nil
            let error = GatewayError.badUpstreamResponse("the upstream answered without a stream")
            finishStream(failure: error, outcomeError: "upstream answered a stream request without a stream", countsAgainstBackend: false)
        } else {
            phase = .collectingAnswer
        }
    }

    func upstreamBody(_ buffer: ByteBuffer) {
        lastUpstreamActivity = .now()
        switch phase {
        case .collectingAnswer:
            guard collected.readableBytes + buffer.readableBytes <= Self.maxUpstreamBodyBytes else {
                answerFailed(.badUpstreamResponse("answer larger than \(Self.maxUpstreamBodyBytes) bytes"))
                return
            }
            var buffer = buffer
            collected.writeBuffer(&buffer)
        case .collectingError:
            guard collected.readableBytes + buffer.readableBytes <= Self.maxUpstreamErrorBodyBytes else { return }
            var buffer = buffer
            collected.writeBuffer(&buffer)
        case .streaming:
            relay(buffer)
        case .receiving, .waitingForHead, .finished:
            break
        }
    }

    func upstreamReadComplete() {
        guard wroteSinceFlush else { return }
        wroteSinceFlush = false
        writer.flush()
    }

    func upstreamEnd() {
        attempt = nil
        switch phase {
        case .collectingAnswer: finishAnswer()
        case .collectingError: finishUpstreamError()
        case .streaming: finishStream(failure: nil)
        case .waitingForHead: attemptFailed(.upstreamUnreachable("the upstream closed without an answer"))
        case .receiving, .finished: break
        }
    }

    func upstreamFailed(_ failure: UpstreamFailure) {
        attempt = nil
        let error = Self.gatewayError(for: failure)
        switch phase {
        case .waitingForHead: attemptFailed(error)
        case .collectingAnswer: answerFailed(error)
        case .collectingError: finishUpstreamError()
        case .streaming: finishStream(failure: error)
        case .receiving, .finished: break
        }
    }

    static func gatewayError(for failure: UpstreamFailure) -> GatewayError {
        if let error = failure.error { return error }
        switch failure.kind {
        case .answer: return .badUpstreamResponse(failure.detail)
        case .connectTimeout: return .upstreamUnreachable("connection timed out")
        case .connect, .closed, .io: return .upstreamUnreachable(failure.detail)
        }
    }

    /// A whole (non-stream) answer arrived: passed on with the upstream's status and content type.
    private func finishAnswer() {
        guard let backend, let draft else { return }
        guard Self.isJSONAnswer(contentType: upstreamContentType, body: collected) else {
            // A 200 that is not an answer (an HTML login page, a proxy's error text): the backend failed.
            let type = upstreamContentType.map { "content type \($0)" } ?? "no content type"
            attemptFailed(.badUpstreamResponse("the upstream answered HTTP \(upstreamStatus) with something other than a JSON object (\(type))"))
            return
        }
        phase = .finished
        cancelTimer()
        services.health.record(backend.label, success: true, latencyMilliseconds: headLatency)
        let usage = collected.withUnsafeReadableBytes {
            endpoint.isChatShaped ? UsageReader.usage(in: $0) : UsageReader.usage(in: $0, endpoint: endpoint)
        }
        if requestTrace != nil {
            requestTrace?.responseModel = collected.withUnsafeReadableBytes { UsageReader.responseModel(in: $0) }
        }
        if bindsStoredResponse, let id = collected.withUnsafeReadableBytes({ UsageReader.responseID(in: $0) }) {
            bindStoredResponse(id, to: backend)
        }
        var headers = routedHeaders
        headers.append(("x-switchyard-backend", backend.label))
        headers.append(("content-type", upstreamContentType ?? "application/json"))
        headers.append(("content-length", String(collected.readableBytes)))
        if endpoint == .messagesCountTokens && !backend.speaksAnthropic { headers.append(("x-switchyard-token-count", "estimated")) }
        writeWhole(status: upstreamStatus, headers: headers, body: collected)
        record(draft.finish(status: upstreamStatus, firstByteAt: .now, usage: usage, provider: backend.provider.spec))
    }

    /// Binds a stored response's id to the backend that made it, so that reading it back
    /// (`GET /v1/responses/{id}`) and continuing it (`previous_response_id`) reach that backend.
    private func bindStoredResponse(_ id: String, to backend: EffectiveConfiguration.Backend) {
        bindsStoredResponse = false
        guard let draft else { return }
        services.sessions.bind(
            id, user: draft.userID, model: modelName, version: versionName, backend: backend.label, ttl: settings.sessionTTLSeconds)
    }

    /// Whether a whole answer is a JSON object, sent as JSON (or with no content type at all).
    static func isJSONAnswer(contentType: String?, body: ByteBuffer) -> Bool {
        if let contentType, !mentionsJSON(contentType) { return false }
        return body.withUnsafeReadableBytes { JSONValueKind.isBracketedObject($0) }
    }

    /// Whether a content type names JSON (`application/json`, `application/problem+json`, any case).
    static func mentionsJSON(_ contentType: String) -> Bool {
        var contentType = contentType
        return contentType.withUTF8 { bytes in
            guard bytes.count >= 4 else { return false }
            for start in 0...(bytes.count - 4)
            where bytes[start] | 0x20 == UInt8(ascii: "j") && bytes[start + 1] | 0x20 == UInt8(ascii: "s")
                && bytes[start + 2] | 0x20 == UInt8(ascii: "o") && bytes[start + 3] | 0x20 == UInt8(ascii: "n")
            {
                return true
            }
            return false
        }
    }

    /// The answer broke off before it was whole: nothing has reached the client yet.
    private func answerFailed(_ error: GatewayError) {
        guard let backend else { return }
        attempt?.cancel()
        attempt = nil
        services.health.record(backend.label, success: false, latencyMilliseconds: nil, reason: error.message)
        finishWithError(error, backendLabel: backend.label, provider: backend.provider.spec)
    }

    /// An upstream's error answer goes to the client with its status when it is OpenAI-shaped JSON,
    /// otherwise as a 502 that names the upstream status.
    private func finishUpstreamError() {
        guard let backend, let draft else { return }
        let status = upstreamStatus
        let isErrorJSON = (upstreamContentType.map(Self.mentionsJSON) ?? false) && collected.contains("\"error\"")
        if clientHeadSent {
            let error = GatewayError.badUpstreamResponse(isErrorJSON ? "the upstream answered HTTP \(status)" : "HTTP \(status)")
            phase = .finished
            cancelTimer()
            writeBody(errorEvent(error))
            writer.writeEnd()
            record(
                draft.finish(status: isErrorJSON ? status : 502, error: isErrorJSON ? "upstream HTTP \(status)" : error.message))
            return
        }
        guard isErrorJSON else {
            finishWithError(.badUpstreamResponse("HTTP \(status)"), backendLabel: backend.label)
            return
        }
        phase = .finished
        cancelTimer()
        var headers = routedHeaders
        headers.append(("x-switchyard-backend", backend.label))
        headers.append(("content-type", "application/json"))
        headers.append(("content-length", String(collected.readableBytes)))
        writeWhole(status: status, headers: headers, body: collected)
        record(draft.finish(status: status, error: "upstream HTTP \(status)"))
    }

    // MARK: Streams

    private func writeStreamHead(backendLabel: String?) {
        var headers = routedHeaders
        if let backendLabel { headers.append(("x-switchyard-backend", backendLabel)) }
        headers.append(("content-type", "text/event-stream"))
        headers.append(("cache-control", "no-cache"))
        headers.append(("x-accel-buffering", "no"))
        headers.append(("x-request-id", requestID))
        writer.writeHead(HTTPResponseHead(version: requestHead.version, status: .ok, headers: HTTPHeaders(headers)))
        clientHeadSent = true
    }

    /// Passes the upstream's complete events on as they arrive, as the bytes came. Takes usage from
    /// the stream and drops the usage-only chunk the client did not ask for.
    private func relay(_ buffer: ByteBuffer) {
        if firstByteAt == nil { firstByteAt = .now }
        let limit = services.limits.maxEventBytes
        var buffer = buffer
        let outcome = events.split(&buffer, maxEventBytes: limit) { event in
            if endpoint.endsStream(event) { sawDone = true }
            if requestTrace != nil, requestTrace?.responseModel == nil, event.contains("\"model\"") {
                requestTrace?.responseModel = Self.withEventData(event, UsageReader.responseModel) ?? nil
            }
            if bindsStoredResponse, event.contains("response.created"),
                case .string(let id)? = (Self.withEventData(event, { try? JSONValue.parse(buffer: $0) }) ?? nil)?["response"]?["id"],
                let backend
            {
                bindStoredResponse(id, to: backend)
            }
            if shadowPair != nil, let chunk = Self.withEventData(event, { try? JSONValue.parse(buffer: $0) }) ?? nil {
                streamedText += AnswerText.ofChunk(chunk)
            }
            if !endpoint.isChatShaped {
                // Anthropic streams spread usage over `message_start` (input) and `message_delta` (output);
                // Responses streams carry it in the `response.completed` event's response.
                if event.contains("\"usage\""), let data = Self.withEventData(event, { try? JSONValue.parse(buffer: $0) }) ?? nil {
                    usage = UsageReader.merging(event: data, endpoint: endpoint, into: usage)
                }
            } else if event.contains("\"usage\""), let found = Self.withEventData(event, { UsageReader.usage(in: $0) }) ?? nil {
                usage = found
                if !clientWantsUsage && Self.withEventData(event, UsageReader.isUsageOnlyChunk) == true { return false }
            }
            relayedEvents += 1
            return true
        } write: { bytes in
            writeBody(bytes)
        }
        if outcome == .eventTooLarge {
            finishStream(failure: Relay.eventTooLarge(limit))
            return
        }
        if !writer.isWritable { attempt?.pauseReading() }
    }

    /// Ends a stream: an upstream that fails or stops before `[DONE]` ends the client's stream with an
    /// error event and no `[DONE]`, never as a clean end. An unfinished event is dropped first, so
    /// the error event always stands alone.
    private func finishStream(failure: GatewayError?, outcomeError: String? = nil, countsAgainstBackend: Bool = true) {
        guard let backend, let draft, phase != .finished else { return }
        phase = .finished
        cancelTimer()
        attempt?.cancel()
        attempt = nil
        var failure = failure
        if failure == nil, let remainder = events.takeRemainder(), endpoint.endsStream(remainder) {
            sawDone = true
            writeBody(remainder)
        }
        if failure == nil && !sawDone {
            failure = .badUpstreamResponse("stream ended before \(endpoint.streamEndName)")
        }
        let provider = backend.provider.spec
        if let failure {
            services.logger.warning(
                "upstream stream failed", metadata: ["request.id": .string(requestID), "error": .string(failure.message)])
            writeBody(errorEvent(failure))
            writer.writeEnd()
            if countsAgainstBackend {
                services.health.record(backend.label, success: false, latencyMilliseconds: nil, reason: failure.message)
            }
            record(
                draft.finish(
                    status: Int(failure.status.code), firstByteAt: firstByteAt, usage: usage, provider: provider,
                    error: outcomeError ?? failure.message))
        } else {
            writer.writeEnd()
            services.health.record(backend.label, success: true, latencyMilliseconds: headLatency)
            record(draft.finish(status: 200, firstByteAt: firstByteAt, usage: usage, provider: provider))
        }
    }

    /// Calls `body` with the JSON payload of one `data:` event (from its first `{` to its last `}`).
    static func withEventData<Result>(_ event: ByteBuffer, _ body: (UnsafeRawBufferPointer) -> Result) -> Result? {
        event.withUnsafeReadableBytes { bytes -> Result? in
            guard let start = bytes.firstIndex(of: UInt8(ascii: "{")), let end = bytes.lastIndex(of: UInt8(ascii: "}")), start < end
            else { return nil }
            return body(UnsafeRawBufferPointer(rebasing: bytes[start...end]))
        }
    }

    // MARK: Spans

    /// Ends the current attempt's client span (now, or at `end`), failed with `errorType` or (nil) answered.
    private func endAttemptSpan(errorType: String?, at end: Double? = nil) {
        guard let draft, let attempts = requestTrace?.attempts, let index = attempts.indices.last, attempts[index].endTime == nil else {
            return
        }
        requestTrace?.attempts[index].endTime = end ?? draft.wallClock(at: .now)
        requestTrace?.attempts[index].status = attemptStatus
        requestTrace?.attempts[index].errorType = errorType
    }

    /// Hands the outcome on, carrying the request's spans when traces are exported.
    private func record(_ event: OutcomeEvent) {
        if let shadowPair {
            shadowPair.primaryFinished(text: event.status == 200 ? answerText() : nil)
            self.shadowPair = nil
        }
        guard requestTrace != nil else { return services.sink.record(event) }
        // The request's end as the outcome measured it: no span of it ends later.
        let end = event.time + event.latencyMilliseconds / 1000
        if let status = attemptStatus, status >= 400 {
            endAttemptSpan(errorType: String(status), at: end)
        } else if event.status >= 400 {
            endAttemptSpan(errorType: event.status == 499 ? "client_closed" : String(event.status), at: end)
        } else {
            endAttemptSpan(errorType: nil, at: end)
        }
        var event = event
        event.trace = requestTrace
        services.sink.record(event)
    }

    // MARK: The client

    /// The client's connection can take more again (or not).
    func clientWritabilityChanged(_ writable: Bool) {
        if writable { attempt?.resumeReading() } else { attempt?.pauseReading() }
    }

    /// The client went away: whatever is in flight is dropped, and a stream is billed for what it used.
    func clientClosed() {
        guard phase != .finished else { return }
        let wasStreaming = phase == .streaming
        phase = .finished
        cancelTimer()
        attempt?.cancel()
        attempt = nil
        guard let draft else { return }
        let provider = backend?.provider.spec
        record(
            draft.finish(
                status: 499, firstByteAt: firstByteAt, usage: usage ?? (wasStreaming ? draft.estimatedUsage(events: relayedEvents) : nil),
                provider: provider, error: "client went away"))
    }

    private func writeBody(_ buffer: ByteBuffer) {
        writer.writeBody(buffer)
        wroteSinceFlush = true
        lastClientWrite = .now()
    }

    /// Writes a whole answer. Header names are lower case and values checked where they came from, so
    /// they go out without `HTTPHeaders.add`'s per-header checks.
    private func writeWhole(status: Int, headers: [(String, String)], body: ByteBuffer) {
        var headers = headers
        headers.append(("x-request-id", requestID))
        writer.writeWhole(status: HTTPResponseStatus(statusCode: status), headers: headers, body: body)
    }

    /// Answers at once, before the body is read: the body is too large, or the connection is in the reserve.
    func refuse(_ error: GatewayError) {
        fail(error)
    }

    /// Answers an error before routing: only the error's own headers.
    private func fail(_ error: GatewayError) {
        phase = .finished
        cancelTimer()
        writeError(error, headers: [])
    }

    /// Ends the exchange with an error: as a JSON answer, or as an error event when a stream already began.
    private func finishWithError(
        _ error: GatewayError, backendLabel: String?, provider: ProviderSpec? = nil, outcomeError: String? = nil
    ) {
        guard phase != .finished else { return }
        phase = .finished
        cancelTimer()
        if clientHeadSent {
            writeBody(errorEvent(error))
            writer.writeEnd()
        } else {
            var headers = routedHeaders
            if let backendLabel { headers.append(("x-switchyard-backend", backendLabel)) }
            writeError(error, headers: headers)
        }
        if let draft {
            record(draft.finish(status: Int(error.status.code), provider: provider, error: outcomeError ?? error.message))
        }
    }

    private func writeError(_ error: GatewayError, headers: [(String, String)]) {
        var headers = headers
        for field in error.headers where !headers.contains(where: { $0.0 == field.name.canonicalName }) {
            headers.append((field.name.canonicalName, field.value))
        }
        let body =
            endpoint.isAnthropic
            ? ByteBuffer(bytes: AnthropicClientTranslation.errorBody(status: Int(error.status.code), message: error.message).jsonBytes)
            : error.jsonBody
        headers.append(("content-type", "application/json"))
        headers.append(("content-length", String(body.readableBytes)))
        writeWhole(status: Int(error.status.code), headers: headers, body: body)
    }

    /// The SSE event that ends a failed stream, in the client's dialect.
    private func errorEvent(_ error: GatewayError) -> ByteBuffer {
        if endpoint.isAnthropic {
            return ByteBuffer(bytes: AnthropicClientTranslation.errorEvent(status: Int(error.status.code), message: error.message).bytes)
        }
        if endpoint == .responses {
            // The Responses stream's own `error` event, which the SDK raises as an API error.
            let event = ServerSentEvent(
                name: "error",
                data: .object([
                    "type": "error", "code": .string(error.code?.rawValue ?? error.type), "message": .string(error.message),
                    "param": error.param.map(JSONValue.string) ?? .null,
                ]))
            return ByteBuffer(bytes: event.bytes)
        }
        return Relay.errorEvent(error)
    }

    // MARK: Deadlines

    /// The connection's timer, set for the earliest deadline that matters now; work on each chunk is
    /// only a clock read, and a timer that fires early sets itself again.
    private func armTimer() {
        guard let deadline = nextDeadline() else { return }
        writer.wakeExchange(at: deadline)
    }

    private func cancelTimer() {
        writer.wakeExchange(at: nil)
    }

    private var streamKeepAlive: TimeAmount? {
        guard isStream, settings.streamKeepAliveSeconds > 0 else { return nil }
        return Self.timeAmount(seconds: settings.streamKeepAliveSeconds)
    }

    private func nextDeadline() -> NIODeadline? {
        var next: NIODeadline?
        func consider(_ deadline: NIODeadline?) {
            guard let deadline else { return }
            next = next.map { min($0, deadline) } ?? deadline
        }
        switch phase {
        case .waitingForHead:
            consider(firstByteDeadline)
            consider(totalDeadline)
            if let keepAlive = streamKeepAlive { consider(lastClientWrite + keepAlive) }
        case .collectingAnswer, .collectingError:
            consider(totalDeadline)
            consider(lastUpstreamActivity + Self.timeAmount(seconds: settings.idleTimeoutSeconds))
        case .streaming:
            consider(totalDeadline)
            consider(lastUpstreamActivity + Self.timeAmount(seconds: settings.idleTimeoutSeconds))
            if let keepAlive = streamKeepAlive { consider(lastClientWrite + keepAlive) }
        case .receiving, .finished:
            break
        }
        return next
    }

    /// The connection's timer fired for this exchange (`ClientResponseWriter.wakeExchange(at:)`).
    func checkDeadlines() {
        let now = NIODeadline.now()
        switch phase {
        case .waitingForHead:
            if let deadline = firstByteDeadline, now >= deadline {
                return attemptFailed(.upstreamTimeout())
            }
            if let deadline = totalDeadline, now >= deadline {
                return attemptFailed(.upstreamTimeout())
            }
            if let keepAlive = streamKeepAlive, now >= lastClientWrite + keepAlive {
                if !clientHeadSent { writeStreamHead(backendLabel: nil) }
                sendKeepAlive()
            }
        case .collectingAnswer, .collectingError:
            if let deadline = totalDeadline, now >= deadline {
                return answerFailed(.upstreamTimeout())
            }
            if now >= lastUpstreamActivity + Self.timeAmount(seconds: settings.idleTimeoutSeconds) {
                return answerFailed(Self.idleTimeout(settings.idleTimeoutSeconds))
            }
        case .streaming:
            if let deadline = totalDeadline, now >= deadline {
                return finishStream(failure: .upstreamTimeout())
            }
            if now >= lastUpstreamActivity + Self.timeAmount(seconds: settings.idleTimeoutSeconds) {
                return finishStream(failure: Self.idleTimeout(settings.idleTimeoutSeconds))
            }
            // The upstream is quiet: a comment between events keeps intermediaries from timing out.
            if let keepAlive = streamKeepAlive, now >= lastClientWrite + keepAlive, now >= lastUpstreamActivity + keepAlive {
                sendKeepAlive()
            }
        case .receiving, .finished:
            return
        }
        armTimer()
    }

    private func sendKeepAlive() {
        writeBody(Relay.keepAliveComment)
        writer.flush()
        wroteSinceFlush = false
        services.keepAlivesSent.increment()
    }

    static func idleTimeout(_ seconds: Double) -> GatewayError {
        GatewayError(
            status: .gatewayTimeout, message: "Upstream sent nothing for \(seconds) s.", type: "upstream_error", code: .upstreamTimeout)
    }

    static func timeAmount(seconds: Double) -> TimeAmount {
        .nanoseconds(Int64(min(max(seconds, 0), 1e9) * 1e9))
    }
}
