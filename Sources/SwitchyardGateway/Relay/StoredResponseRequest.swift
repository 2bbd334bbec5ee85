import Foundation
import HTTPTypes
import Logging
import NIOCore
import NIOHTTP1
import SwitchyardCore

/// `GET /v1/responses/{id}`, `GET /v1/responses/{id}/input_items` and `DELETE /v1/responses/{id}`:
/// a response the provider stores lives on the backend that made it, so the request goes there,
/// found by the binding the gateway made when the response passed through (keyed by its id, for the
/// user who made it). No failover: no other backend has the response. The answer is relayed as it
/// arrives. It is not a model request: no tokens, no limits, no outcome; an access line is logged.
final class StoredResponseRequest: UpstreamResponseHandler {
    private let services: ClientAPIServices
    private let writer: any ClientResponseWriter
    private let loop: any EventLoop
    private let requestHead: HTTPRequestHead
    private let fields: ClientRequestHeaders
    private let requestID: String
    /// `{id}` or `{id}/input_items`, as the client sent it (still percent-encoded).
    private let subpath: String
    private let responseID: String
    private let tokenMemo: TokenDigestMemo
    private let startedAt = ContinuousClock.now

    private var attempt: UpstreamCall?
    private var backendLabel = ""
    private var userID = ""
    private var status = 0
    private var headSent = false
    private var finished = false
    private var timer: DeadlineTimer

    init(
        services: ClientAPIServices, writer: any ClientResponseWriter, loop: any EventLoop, head: HTTPRequestHead, fields: ClientRequestHeaders,
        subpath: String, requestID: String, tokenMemo: TokenDigestMemo
    ) {
        self.tokenMemo = tokenMemo
        self.services = services
        self.writer = writer
        self.loop = loop
        self.requestHead = head
        self.fields = fields
        self.subpath = subpath
        self.requestID = requestID
        let encodedID = String(subpath.prefix { $0 != "/" })
        responseID = encodedID.removingPercentEncoding ?? encodedID
        timer = DeadlineTimer(gauges: services.gauges)
    }

    /// Which paths under `/v1/responses/` this serves, for `method`.
    static func serves(_ method: HTTPMethod, subpath: String) -> Bool {
        let parts = subpath.split(separator: "/", omittingEmptySubsequences: false)
        switch method {
        case .GET: return (parts.count == 1 || (parts.count == 2 && parts[1] == "input_items")) && !parts[0].isEmpty
        case .DELETE: return parts.count == 1 && !parts[0].isEmpty
        default: return false
        }
    }

    func start() {
        let configuration = services.configuration.current
        guard let user = ClientExchange.authenticate(fields, in: configuration, memo: tokenMemo) else {
            return fail(.invalidAPIKey())
        }
        userID = user.id
        guard let binding = services.sessions.binding(for: responseID, user: user.id), user.mayUse(model: binding.model) else {
            return fail(Self.unknownResponse(responseID))
        }
        guard let model = configuration.models[binding.model],
            let backend = Self.backend(labelled: binding.backend, preferring: binding.version, in: model)
        else {
            return fail(
                GatewayError(
                    status: .notFound,
                    message: "Response '\(responseID)' was made by backend '\(binding.backend)', which is no longer configured.",
                    type: "invalid_request_error", code: .notFound))
        }
        backendLabel = backend.label
        let query = requestHead.uri.firstIndex(of: "?").map { String(requestHead.uri[requestHead.uri.index(after: $0)...]) }
        let forwarded = fields.passedOn(anthropic: false)
        let request = OutgoingRequest(endpoint: .responses, body: ByteBuffer(), stream: false, requestID: requestID, forwardedHeaders: forwarded)
        let settings = configuration.settings
        let timeout = backend.provider.spec.timeoutSeconds ?? settings.requestTimeoutSeconds
        timer.arm(at: .now() + ClientExchange.timeAmount(seconds: timeout), on: loop) { [self] in
            timer.fired()
            upstreamFailed(UpstreamFailure(kind: .answer, detail: "timed out", error: .upstreamTimeout()))
        }
        do {
            attempt = try services.adapters.startStoredResponse(
                request, method: requestHead.method, subpath: subpath, query: query, to: backend, on: loop, handler: self)
        } catch {
            fail(error)
        }
    }

    /// The bound backend: in the bound version first, else wherever that label still serves the model.
    static func backend(
        labelled label: String, preferring version: String, in model: EffectiveConfiguration.Model
    ) -> EffectiveConfiguration.Backend? {
        let preferred = model.versions.first { $0.name == version }?.backends.first { $0.label == label }
        return preferred ?? model.versions.lazy.flatMap(\.backends).first { $0.label == label && $0.provider.spec.speaksResponses }
    }

    static func unknownResponse(_ id: String) -> GatewayError {
        GatewayError(
            status: .notFound,
            message:
                "No response with id '\(id)' is known to this gateway for this key: it was not stored by a backend that keeps responses, "
                + "or its binding expired (session_ttl_seconds).",
            type: "invalid_request_error", param: "response_id", code: .notFound)
    }

    // MARK: The answer

    func upstreamHead(status: Int, headers: HTTPHeaders) {
        guard !finished else { return }
        self.status = status
        var relayed: [(String, String)] = [("x-request-id", requestID), ("x-switchyard-backend", backendLabel)]
        for name in ["content-type", "content-length"] {
            if let value = headers.first(name: name) { relayed.append((name, value)) }
        }
        writer.writeHead(HTTPResponseHead(version: requestHead.version, status: .init(statusCode: status), headers: HTTPHeaders(relayed)))
        headSent = true
        if requestHead.method == .DELETE, (200..<300).contains(status) { _ = services.sessions.remove(responseID) }
    }

    func upstreamBody(_ buffer: ByteBuffer) {
        guard !finished else { return }
        writer.writeBody(buffer)
        if !writer.isWritable { attempt?.pauseReading() }
    }

    func upstreamReadComplete() {
        writer.flush()
    }

    func upstreamEnd() {
        attempt = nil
        guard !finished else { return }
        guard headSent else { return upstreamFailed(UpstreamFailure(kind: .closed, detail: "the upstream closed without an answer")) }
        finish()
        writer.writeEnd()
    }

    func upstreamFailed(_ failure: UpstreamFailure) {
        guard !finished else { return }
        attempt?.cancel()
        attempt = nil
        let error = ClientExchange.gatewayError(for: failure)
        guard headSent else { return fail(error) }
        // The answer broke off: the client must not take a part for the whole, nor wait for the rest.
        status = 502
        finish()
        writer.abandonResponse()
    }

    /// Answers at once: the connection is in the reserve.
    func refuse(_ error: GatewayError) {
        fail(error)
    }

    func clientWritabilityChanged(_ writable: Bool) {
        if writable { attempt?.resumeReading() } else { attempt?.pauseReading() }
    }

    func clientClosed() {
        guard !finished else { return }
        status = 499
        attempt?.cancel()
        attempt = nil
        finish()
    }

    private func fail(_ error: GatewayError) {
        guard !finished else { return }
        status = Int(error.status.code)
        finish()
        let body = error.jsonBody
        var headers = [("x-request-id", requestID), ("content-type", "application/json"), ("content-length", String(body.readableBytes))]
        if !backendLabel.isEmpty { headers.append(("x-switchyard-backend", backendLabel)) }
        writer.writeWhole(status: HTTPResponseStatus(statusCode: status), headers: headers, body: body)
    }

    private func finish() {
        finished = true
        timer.cancel()
        services.logger.info(
            "stored response request",
            metadata: [
                "log.type": "access", "request.id": .string(requestID), "user": .string(userID), "method": .string(requestHead.method.rawValue),
                "response.id": .string(responseID), "backend": .string(backendLabel), "status": .stringConvertible(status),
                "latency_ms": .string(String(format: "%.1f", OutcomeDraft.milliseconds(from: startedAt, to: .now))),
            ])
    }
}
