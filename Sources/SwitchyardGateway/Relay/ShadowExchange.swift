import Foundation
import HTTPTypes
import NIOCore
import NIOHTTP1
import SwitchyardCore

/// A copy of a client request, sent to the model's shadow version after the primary request left,
/// on the same event loop. Its answer is read to the end and discarded: nothing it does reaches the
/// client. It tries the shadow's backends like a primary (failover before the answer, up to
/// `max_retries`), runs on its own deadlines, and ends in one outcome marked `shadow`, compared with
/// the primary's answer once both ended.
final class ShadowExchange: UpstreamResponseHandler {
    private enum Phase {
        case waitingForHead
        case collecting
        case streaming
        case finished
    }

    private let services: ClientAPIServices
    private let loop: any EventLoop
    private let route: ShadowRoute
    private let body: ClientRequestBody
    private let endpoint: Endpoint
    private let isStream: Bool
    private let requestID: String
    private let forwardedHeaders: [(String, String)]
    private let settings: GatewaySettings
    private let pair: ShadowPair
    private var draft: OutcomeDraft

    private var phase = Phase.waitingForHead
    private var nextBackend = 0
    private var attempts = 0
    private var attempt: (any UpstreamAttempt)?
    private var backend: EffectiveConfiguration.Backend?
    private var lastFailure: (status: Int, message: String)?
    private var status = 0
    private var contentType: String?
    private var collected = ByteBuffer()
    private var events = ServerSentEventSplitter()
    private var text = ""
    private var usage: TokenUsage?
    private var sawDone = false
    private var firstByteAt: ContinuousClock.Instant?
    private var timer: DeadlineTimer
    private var firstByteDeadline: NIODeadline?
    private var totalDeadline = NIODeadline.now()

    init(
        services: ClientAPIServices, loop: any EventLoop, route: ShadowRoute, body: ClientRequestBody, endpoint: Endpoint, isStream: Bool,
        requestID: String, userID: String, model: String, forwardedHeaders: [(String, String)], settings: GatewaySettings, pair: ShadowPair
    ) {
        self.services = services
        self.loop = loop
        self.route = route
        self.body = body
        self.endpoint = endpoint
        self.isStream = isStream
        self.requestID = requestID
        self.forwardedHeaders = forwardedHeaders + [("x-switchyard-shadow", "1")]
        self.settings = settings
        self.pair = pair
        draft = OutcomeDraft(requestID: requestID, userID: userID, model: model, endpoint: endpoint, stream: isStream, startedAt: .now)
        draft.version = route.version.name
        timer = DeadlineTimer(gauges: services.gauges)
    }

    func start() {
        tryNextBackend()
    }

    private func tryNextBackend() {
        while nextBackend < route.backends.count, attempts <= settings.maxRetries {
            let backend = route.backends[nextBackend]
            nextBackend += 1
            guard services.health.acquire(backend.label) else { continue }
            attempts += 1
            draft.backend = backend.label
            draft.failovers = attempts - 1
            send(to: backend)
            return
        }
        let failure = lastFailure ?? (503, "no backend of shadow version '\(route.version.name)' could take the copy")
        finish(status: failure.status, error: failure.message)
    }

    private func send(to backend: EffectiveConfiguration.Backend) {
        self.backend = backend
        phase = .waitingForHead
        let now = NIODeadline.now()
        firstByteDeadline = now + ClientExchange.timeAmount(seconds: settings.firstByteTimeout(for: backend.provider.spec))
        totalDeadline = now + ClientExchange.timeAmount(seconds: backend.provider.spec.timeoutSeconds ?? settings.requestTimeoutSeconds)
        armTimer()
        let upstreamBody = body.upstreamBody(
            model: backend.upstreamModel, params: route.version.params, endpoint: endpoint, allocator: ByteBufferAllocator())
        let request = OutgoingRequest(
            endpoint: endpoint, body: upstreamBody, stream: isStream, requestID: requestID, forwardedHeaders: forwardedHeaders)
        do {
            attempt = try services.adapters.start(request, to: backend, settings: settings, on: loop, handler: self)
        } catch {
            attemptFailed(status: Int(error.status.code), message: error.message, countsAgainstBackend: error.status.code >= 500)
        }
    }

    private func attemptFailed(status: Int, message: String, countsAgainstBackend: Bool = true) {
        attempt?.cancel()
        attempt = nil
        if let backend, countsAgainstBackend {
            services.health.record(backend.label, success: false, latencyMilliseconds: nil, reason: message)
        }
        lastFailure = (status, message)
        tryNextBackend()
    }

    // MARK: The shadow's answer

    func upstreamHead(status: Int, headers: HTTPHeaders) {
        guard phase == .waitingForHead else { return }
        firstByteDeadline = nil
        self.status = status
        contentType = headers.first(name: "content-type")
        if (status >= 500 && status != 508) || status == 429 {
            if attempts <= settings.maxRetries && nextBackend < route.backends.count {
                return attemptFailed(status: 502, message: "HTTP \(status)")
            }
            if let backend { services.health.record(backend.label, success: false, latencyMilliseconds: nil, reason: "HTTP \(status)") }
        }
        let isEventStream = contentType?.hasPrefix("text/event-stream") ?? false
        phase = (200..<300).contains(status) && isStream && isEventStream ? .streaming : .collecting
    }

    func upstreamBody(_ buffer: ByteBuffer) {
        if firstByteAt == nil { firstByteAt = .now }
        switch phase {
        case .collecting:
            guard collected.readableBytes + buffer.readableBytes <= ClientExchange.maxUpstreamBodyBytes else {
                return fail(status: 502, message: "answer larger than \(ClientExchange.maxUpstreamBodyBytes) bytes")
            }
            var buffer = buffer
            collected.writeBuffer(&buffer)
        case .streaming:
            var buffer = buffer
            let outcome = events.split(&buffer, maxEventBytes: services.limits.maxEventBytes) { event in
                if endpoint.endsStream(event) { sawDone = true }
                guard let chunk = ClientExchange.withEventData(event, { try? JSONValue.parse(buffer: $0) }) ?? nil else { return false }
                if !endpoint.isChatShaped {
                    usage = UsageReader.merging(event: chunk, endpoint: endpoint, into: usage)
                } else if let found = chunk.objectValue?["usage"].flatMap(UsageReader.tokenUsage) {
                    usage = found
                }
                text += AnswerText.ofChunk(chunk)
                return false
            } write: { _ in
            }
            if outcome == .eventTooLarge { fail(status: 502, message: Relay.eventTooLarge(services.limits.maxEventBytes).message) }
        case .waitingForHead, .finished:
            break
        }
    }

    func upstreamReadComplete() {}

    func upstreamEnd() {
        attempt = nil
        switch phase {
        case .waitingForHead:
            attemptFailed(status: 502, message: "the upstream closed without an answer")
        case .collecting:
            finishCollected()
        case .streaming:
            if let remainder = events.takeRemainder(), endpoint.endsStream(remainder) { sawDone = true }
            if sawDone { finish(status: 200, text: text) } else { fail(status: 502, message: "stream ended before [DONE]") }
        case .finished:
            break
        }
    }

    func upstreamFailed(_ failure: UpstreamFailure) {
        attempt = nil
        let error = ClientExchange.gatewayError(for: failure)
        if phase == .waitingForHead {
            attemptFailed(status: Int(error.status.code), message: error.message)
        } else {
            fail(status: Int(error.status.code), message: error.message)
        }
    }

    private func finishCollected() {
        guard (200..<300).contains(status) else {
            return finish(status: status, error: "upstream HTTP \(status)")
        }
        guard ClientExchange.isJSONAnswer(contentType: contentType, body: collected),
            let answer = collected.withUnsafeReadableBytes({ try? JSONValue.parse(buffer: $0) })
        else {
            return fail(status: 502, message: "the upstream answered HTTP \(status) with something other than a JSON object")
        }
        usage = collected.withUnsafeReadableBytes {
            endpoint.isChatShaped ? UsageReader.usage(in: $0) : UsageReader.usage(in: $0, endpoint: endpoint)
        }
        finish(status: status, text: AnswerText.ofCompletion(answer))
    }

    /// The answer broke off or was unusable: a failure of the backend.
    private func fail(status: Int, message: String) {
        guard phase != .finished else { return }
        attempt?.cancel()
        attempt = nil
        if let backend { services.health.record(backend.label, success: false, latencyMilliseconds: nil, reason: message) }
        finish(status: status, error: message)
    }

    private func finish(status: Int, text: String? = nil, error: String? = nil) {
        guard phase != .finished else { return }
        let answered = phase == .collecting || phase == .streaming
        phase = .finished
        timer.cancel()
        services.shadows.release(model: draft.model)
        if let backend, answered, error == nil, status < 500 {
            services.health.record(backend.label, success: true, latencyMilliseconds: nil)
        }
        var event = draft.finish(status: status, firstByteAt: firstByteAt, usage: usage, provider: backend?.provider.spec, error: error)
        event.shadow = true
        pair.shadowFinished(event, text: error == nil && status == 200 ? text : nil)
    }

    // MARK: Deadlines

    private func armTimer() {
        let deadline = firstByteDeadline.map { min($0, totalDeadline) } ?? totalDeadline
        timer.arm(at: deadline, on: loop) { [self] in
            timer.fired()
            checkDeadlines()
        }
    }

    private func checkDeadlines() {
        let now = NIODeadline.now()
        switch phase {
        case .waitingForHead:
            if now >= totalDeadline || firstByteDeadline.map({ now >= $0 }) == true {
                return attemptFailed(status: 504, message: "upstream timed out")
            }
        case .collecting, .streaming:
            if now >= totalDeadline { return fail(status: 504, message: "upstream timed out") }
        case .finished:
            return
        }
        armTimer()
    }
}
