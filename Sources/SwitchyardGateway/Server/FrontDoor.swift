import Foundation
import HTTPTypes
import NIOCore
import NIOHTTP1
import SwitchyardCore

/// The first handler after HTTP parsing on every client connection. It decides at each request head
/// who serves it: the client API (`/v1/…`) right here on the event loop, everything else (admin API,
/// page, health, metrics) passed on to Hummingbird. It also keeps the connection's deadlines: headers
/// within the header timeout of their first byte, the body within the body timeout, an idle
/// keep-alive connection no longer than the idle timeout, and while a request is answered the
/// deadlines of its exchange — one timer for all of them. And it keeps HTTP/1.1's order: what a client
/// pipelines behind a request waits until that request's answer has ended (NIO's
/// `HTTPServerPipelineHandler` did this, but stopped reading the socket while any answer was being
/// written: two `epoll_ctl` calls per request; this holds back reads only once something is waiting),
/// and on shutdown it closes an idle connection at once and a busy one after its answer.
final class FrontDoor: ChannelDuplexHandler, RemovableChannelHandler, ClientResponseWriter {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private enum State {
        /// Between requests; `headerStarted` once a byte of the next request has come.
        case idle(headerStarted: Bool)
        case receiving(ClientExchange, body: ByteBuffer)
        case listingModels
        /// `GET /v1/models/{id}`: the id as it came in the path (percent-encoded).
        case retrievingModel(String)
        case responding(ClientExchange)
        /// A stored response read or deleted at the backend that made it: until the request's end, then answering.
        case storedResponse(StoredResponseRequest, started: Bool)
        /// A request being passed on to Hummingbird, until its end (Hummingbird may answer before it).
        case passing(answered: Bool)
        /// Hummingbird is answering.
        case passed
        case closing
    }

    private let services: ClientAPIServices
    private let reserveOnly: Bool
    private var state = State.idle(headerStarted: false)
    private var context: ChannelHandlerContext?
    private var keepAlive = true
    private var requestVersion = HTTPVersion.http1_1
    private var deadline: NIODeadline?
    private var timer: DeadlineTimer
    private let tokenMemo = TokenDigestMemo()
    /// Request ids, routing choices and trace ids of this connection's requests: one system draw (a
    /// syscall) per connection instead of three per request. None of them is a secret.
    private var random = SplitMix64.seededBySystem()
    /// Told each request's method, which decides how its answer is framed (a `HEAD` answer has no body).
    private let responseEncoder: ServerResponseEncoder

    init(services: ClientAPIServices, reserveOnly: Bool, responseEncoder: ServerResponseEncoder) {
        self.services = services
        self.reserveOnly = reserveOnly
        self.responseEncoder = responseEncoder
        timer = DeadlineTimer(gauges: services.gauges)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        setDeadline(.now() + services.limits.idleTimeout)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        cancelTimer()
        self.context = nil
    }

    // MARK: Requests

    /// Raw bytes came in (from the watcher in front of the HTTP parser).
    func bytesArrived() {
        guard case .idle(false) = state else { return }
        state = .idle(headerStarted: true)
        setDeadline(.now() + services.limits.headerTimeout)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        guard !holdsInbound else {
            if !quiescing { held.append(.part(part)) }
            return
        }
        receive(part, data: data, context: context)
    }

    /// A request part in its turn: no earlier answer is still being written.
    private func receive(_ part: HTTPServerRequestPart, data: NIOAny, context: ChannelHandlerContext) {
        if case .head(let head) = part { responseEncoder.requestArrived(method: head.method) }
        switch (state, part) {
        case (.idle, .head(let head)):
            keepAlive = head.isKeepAlive
            requestVersion = head.version
            guard let route = Self.clientRoute(head) else {
                state = .passing(answered: false)
                setDeadline(.now() + services.limits.bodyTimeout)
                context.fireChannelRead(data)
                return
            }
            setDeadline(.now() + services.limits.bodyTimeout)
            let fields = ClientRequestHeaders(head.headers)
            let requestID = RequestIDMiddleware.usableID(fields.requestID) ?? RequestIdentifier.makeTimeOrdered(using: &random)
            let endpoint: Endpoint
            switch route {
            case .relay(let relayed): endpoint = relayed
            case .listModels:
                state = .listingModels
                modelsRequestFields = fields
                return
            case .retrieveModel(let id):
                state = .retrievingModel(id)
                modelsRequestFields = fields
                return
            case .storedResponse(let subpath):
                state = .storedResponse(
                    StoredResponseRequest(
                        services: services, writer: self, loop: context.eventLoop, head: head, fields: fields, subpath: subpath,
                        requestID: requestID, tokenMemo: tokenMemo),
                    started: false)
                return
            }
            let exchange = ClientExchange(
                services: services, writer: self, loop: context.eventLoop, head: head, fields: fields, endpoint: endpoint,
                requestID: requestID, tokenMemo: tokenMemo, random: SplitMix64(seed: random.next()))
            if reserveOnly {
                keepAlive = false
                state = .responding(exchange)
                exchange.refuse(.serverBusy())
                return
            }
            if let length = fields.contentLength.flatMap(Int.init), length > services.limits.maxBodyBytes {
                keepAlive = false
                state = .responding(exchange)
                exchange.refuse(.bodyTooLarge(limit: services.limits.maxBodyBytes))
                return
            }
            state = .receiving(exchange, body: context.channel.allocator.buffer(capacity: 0))
            if fields.expect?.lowercased() == "100-continue" {
                context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .continue))), promise: nil)
            }
        case (.receiving(let exchange, var body), .body(var chunk)):
            state = .closing  // the buffer is uniquely referenced while it grows
            guard body.readableBytes + chunk.readableBytes <= services.limits.maxBodyBytes else {
                keepAlive = false
                state = .responding(exchange)
                exchange.refuse(.bodyTooLarge(limit: services.limits.maxBodyBytes))
                return
            }
            if body.readableBytes == 0 {
                body = chunk
            } else {
                body.writeBuffer(&chunk)
            }
            state = .receiving(exchange, body: body)
        case (.receiving(let exchange, let body), .end):
            state = .responding(exchange)
            clearDeadline()
            exchange.start(body: body)
        case (.listingModels, .end):
            state = .closing
            clearDeadline()
            answerModels(id: nil)
        case (.retrievingModel(let id), .end):
            state = .closing
            clearDeadline()
            answerModels(id: id)
        case (.storedResponse(let lookup, started: false), .end):
            state = .storedResponse(lookup, started: true)
            clearDeadline()
            if reserveOnly {
                keepAlive = false
                lookup.refuse(.serverBusy())
            } else {
                lookup.start()
            }
        case (.listingModels, .body), (.retrievingModel, .body), (.responding, .body), (.responding, .end), (.storedResponse, .body),
            (.storedResponse, .end):
            break  // a body nobody reads, or the rest of a refused one
        case (.passing(let answered), .end):
            state = .passed
            clearDeadline()
            context.fireChannelRead(data)
            guard answered else { return }
            if quiescing {
                state = .closing
                context.close(promise: nil)
            } else {
                becomeIdle()
            }
        case (.passing, _), (.passed, _):
            context.fireChannelRead(data)
        case (.idle, _), (.receiving, .head), (.listingModels, .head), (.retrievingModel, .head), (.responding, .head), (.storedResponse, .head),
            (.closing, _):
            break
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        switch state {
        case .responding(let exchange): exchange.clientWritabilityChanged(context.channel.isWritable)
        case .storedResponse(let lookup, _): lookup.clientWritabilityChanged(context.channel.isWritable)
        default: break
        }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        cancelTimer()
        held.removeAll()
        switch state {
        case .receiving(let exchange, _), .responding(let exchange):
            state = .closing
            exchange.clientClosed()
        case .storedResponse(let lookup, _):
            state = .closing
            lookup.clientClosed()
        default:
            state = .closing
        }
        context.fireChannelInactive()
    }

    /// What the client API does with a request head; `nil` for everything Hummingbird serves.
    enum ClientRoute {
        case relay(Endpoint)
        case listModels
        /// `GET /v1/models/{id}`, with the id as it came (still percent-encoded).
        case retrieveModel(String)
        /// `GET`/`DELETE /v1/responses/{…}`, with the rest of the path as it came.
        case storedResponse(String)
    }

    static let modelPathPrefix: StaticString = "/v1/models/"
    static let responsePathPrefix: StaticString = "/v1/responses/"

    static func clientRoute(_ head: HTTPRequestHead) -> ClientRoute? {
        var uri = head.uri
        return uri.withUTF8 { uri in
            let path = UnsafeBufferPointer(rebasing: uri[..<(uri.firstIndex(of: UInt8(ascii: "?")) ?? uri.count)])
            func bytes(of text: StaticString) -> UnsafeBufferPointer<UInt8> {
                UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount)
            }
            func isPath(_ expected: StaticString) -> Bool {
                path.elementsEqual(bytes(of: expected))
            }
            switch head.method {
            case .POST where isPath("/v1/chat/completions"): return .relay(.chatCompletions)
            case .POST where isPath("/v1/embeddings"): return .relay(.embeddings)
            case .POST where isPath("/v1/completions"): return .relay(.completions)
            case .POST where isPath("/v1/messages"): return .relay(.messages)
            case .POST where isPath("/v1/responses"): return .relay(.responses)
            case .POST where isPath("/v1/messages/count_tokens"): return .relay(.messagesCountTokens)
            case .GET where isPath("/v1/models"): return .listModels
            case .GET where path.count > modelPathPrefix.utf8CodeUnitCount && path.starts(with: bytes(of: modelPathPrefix)):
                return .retrieveModel(String(decoding: path[modelPathPrefix.utf8CodeUnitCount...], as: UTF8.self))
            case .GET, .DELETE:
                guard path.starts(with: bytes(of: responsePathPrefix)) else { return nil }
                let subpath = String(decoding: path[responsePathPrefix.utf8CodeUnitCount...], as: UTF8.self)
                return StoredResponseRequest.serves(head.method, subpath: subpath) ? .storedResponse(subpath) : nil
            default: return nil
            }
        }
    }

    // MARK: Responses written by Hummingbird

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(var head) where quiescing && head.status.code >= 200:
            head.headers.replaceOrAdd(name: "connection", value: "close")
            context.write(wrapOutboundOut(.head(head)), promise: promise)
        case .end:
            switch state {
            case .passed where quiescing:
                state = .closing
                let written = promise ?? context.eventLoop.makePromise()
                context.write(data, promise: written)
                written.futureResult.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
            case .passed:
                becomeIdle()
                context.write(data, promise: promise)
            case .passing:
                state = .passing(answered: true)
                context.write(data, promise: promise)
            default:
                context.write(data, promise: promise)
            }
        default:
            context.write(data, promise: promise)
        }
    }

    // MARK: Pipelining and shutdown

    /// An inbound event that came while an earlier request's answer was still being written,
    /// delivered in order once that answer has ended.
    private enum HeldEvent {
        case part(HTTPServerRequestPart)
        case parseError(any Error)
        case inputClosed
    }

    private var held = CircularBuffer<HeldEvent>(initialCapacity: 0)
    /// The channel asked to read while events were held: asked on once they are delivered.
    private var readRequested = false
    /// The server is shutting down: no request after the current one, whose answer closes the connection.
    private var quiescing = false

    /// An answer is being written to a request that has wholly arrived: what comes next is the next request's.
    private var answersWholeRequest: Bool {
        switch state {
        case .responding: keepAlive  // without keep-alive the rest of a refused request may still come, and is dropped
        case .storedResponse(_, started: true), .passed: true
        default: false
        }
    }

    private var holdsInbound: Bool { !held.isEmpty || answersWholeRequest }

    func read(context: ChannelHandlerContext) {
        if held.isEmpty {
            context.read()
        } else {
            readRequested = true
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard error is HTTPParserError, holdsInbound else {
            context.fireErrorCaught(error)
            return
        }
        if !quiescing { held.append(.parseError(error)) }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent {
            quiesce(context: context)
        } else if let event = event as? ChannelEvent, event == .inputClosed, holdsInbound {
            // A client that half-closes after its last request still gets the answer.
            held.append(.inputClosed)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    private func quiesce(context: ChannelHandlerContext) {
        quiescing = true
        keepAlive = false
        held.removeAll()
        if case .idle = state {
            state = .closing
            context.close(promise: nil)
        }
    }

    /// Hands the held events on, in order, until one of them starts an answer that must end first.
    /// Runs on a later turn of the loop, so that the answer that ended has finished its own work.
    private func deliverHeldEvents() {
        guard let context else { return }
        var deliveredPart = false
        while !answersWholeRequest, let event = held.popFirst() {
            switch event {
            case .part(let part):
                receive(part, data: wrapInboundOut(part), context: context)
                deliveredPart = true
            case .parseError(let error):
                context.fireErrorCaught(error)
            case .inputClosed:
                context.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
            }
        }
        if deliveredPart { context.fireChannelReadComplete() }
        if held.isEmpty && readRequested {
            readRequested = false
            context.read()
        }
    }

    // MARK: ClientResponseWriter

    var isWritable: Bool { context?.channel.isWritable ?? false }

    func writeHead(_ head: HTTPResponseHead) {
        var head = head
        if let connection = connectionField { head.headers.replaceOrAdd(name: "connection", value: connection) }
        context?.write(wrapOutboundOut(.head(head)), promise: nil)
    }

    /// The `connection` field an answer needs: `close` when the connection ends after it, `keep-alive`
    /// for an HTTP/1.0 client that keeps it; none otherwise.
    private var connectionField: String? {
        if !keepAlive { return "close" }
        return requestVersion == .http1_0 ? "keep-alive" : nil
    }

    func writeBody(_ buffer: ByteBuffer) {
        responseEncoder.writeBody(.byteBuffer(buffer), promise: nil)
    }

    func flush() {
        context?.flush()
    }

    func writeEnd() {
        guard let context else { return }
        endResponse(context) { promise in context.write(wrapOutboundOut(.end(nil)), promise: promise) }
    }

    func writeWhole(status: HTTPResponseStatus, headers: [(String, String)], body: ByteBuffer) {
        guard let context else { return }
        guard status.mayHaveResponseBody else {
            writeHead(HTTPResponseHead(version: requestVersion, status: status, headers: HTTPHeaders(headers)))
            return writeEnd()
        }
        var headers = headers
        if let connection = connectionField { headers.append(("connection", connection)) }
        endResponse(context) { [responseEncoder, requestVersion] promise in
            responseEncoder.writeWhole(version: requestVersion, status: status, fields: headers, body: body, promise: promise)
        }
    }

    /// Writes the response's last bytes with `writeLast`, flushes, and waits for the next request or closes.
    private func endResponse(_ context: ChannelHandlerContext, writeLast: (EventLoopPromise<Void>?) -> Void) {
        if keepAlive {
            becomeIdle()
            writeLast(nil)
            context.flush()
        } else {
            state = .closing
            let written = context.eventLoop.makePromise(of: Void.self)
            writeLast(written)
            context.flush()
            written.futureResult.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        }
    }

    func wakeExchange(at deadline: NIODeadline?) {
        guard case .responding = state else { return }
        if let deadline { setDeadline(deadline) } else { clearDeadline() }
    }

    func abandonResponse() {
        keepAlive = false
        state = .closing
        clearDeadline()
        context?.close(promise: nil)
    }

    private func becomeIdle() {
        state = .idle(headerStarted: false)
        setDeadline(.now() + services.limits.idleTimeout)
        if !held.isEmpty, let context {
            context.eventLoop.assumeIsolatedUnsafeUnchecked().execute { [self] in deliverHeldEvents() }
        }
    }

    /// Answers `GET /v1/models` (`id` nil) with the models the user may use, or `GET /v1/models/{id}`
    /// with one of them in OpenAI's shape — 404 `model_not_found` for a model that does not exist or
    /// that this user may not use (the list does not show it either).
    private func answerModels(id encodedID: String?) {
        let configuration = services.configuration.current
        let fields = modelsRequestFields ?? ClientRequestHeaders([:])
        modelsRequestFields = nil
        let requestID = RequestIDMiddleware.usableID(fields.requestID) ?? RequestIdentifier.makeTimeOrdered(using: &random)
        let body: ByteBuffer
        let status: HTTPResponseStatus
        func answer(_ error: GatewayError) -> (ByteBuffer, HTTPResponseStatus) {
            (error.jsonBody, HTTPResponseStatus(statusCode: Int(error.status.code)))
        }
        if reserveOnly {
            keepAlive = false
            (body, status) = answer(.serverBusy())
        } else if let user = ClientExchange.authenticate(fields, in: configuration, memo: tokenMemo) {
            if let encodedID {
                let id = encodedID.removingPercentEncoding ?? encodedID
                if configuration.models[id] != nil, user.mayUse(model: id) {
                    var json: [UInt8] = []
                    Self.writeModel(id, into: &json)
                    body = ByteBuffer(bytes: json)
                    status = .ok
                } else {
                    (body, status) = answer(.modelNotFound(id))
                }
            } else {
                var json: [UInt8] = Array(#"{"object":"list","data":["#.utf8)
                for (index, name) in configuration.modelNames.filter(user.mayUse(model:)).enumerated() {
                    if index > 0 { json.append(UInt8(ascii: ",")) }
                    Self.writeModel(name, into: &json)
                }
                json += "]}".utf8
                body = ByteBuffer(bytes: json)
                status = .ok
            }
        } else {
            (body, status) = answer(.invalidAPIKey())
        }
        let headers = [("x-request-id", requestID), ("content-type", "application/json"), ("content-length", String(body.readableBytes))]
        writeWhole(status: status, headers: headers, body: body)
    }

    /// One model object as OpenAI's model list and retrieve answers carry it.
    private static func writeModel(_ name: String, into json: inout [UInt8]) {
        json += #"{"id":"#.utf8
        JSONValue.string(name).write(into: &json)
        json += #","object":"model","created":0,"owned_by":"switchyard"}"#.utf8
    }

    /// The headers of a `GET /v1/models` request, until it is answered. Kept beside the state, not
    /// in it: a payload this size made every copy of the state, once per request part, cost more.
    private var modelsRequestFields: ClientRequestHeaders?

    // MARK: Deadlines

    private func setDeadline(_ deadline: NIODeadline) {
        self.deadline = deadline
        guard let context else { return }
        timer.arm(at: deadline, on: context.eventLoop) { [self] in
            timer.fired()
            deadlinePassed()
        }
    }

    private func clearDeadline() {
        deadline = nil
    }

    private func cancelTimer() {
        timer.cancel()
    }

    /// The timer fired: close when the deadline really passed, else wait for the later one.
    private func deadlinePassed() {
        guard let deadline, let context else { return }
        guard NIODeadline.now() >= deadline else {
            setDeadline(deadline)
            return
        }
        switch state {
        case .idle, .receiving, .passing, .listingModels, .retrievingModel, .storedResponse(_, started: false):
            state = .closing
            context.close(promise: nil)
        case .responding(let exchange):
            exchange.checkDeadlines()
        case .storedResponse(_, started: true), .passed, .closing:
            break
        }
    }
}

/// Tells the front door when raw bytes arrive, so a request's header deadline starts at its first byte.
final class RequestByteWatcher: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let frontDoor: FrontDoor

    init(frontDoor: FrontDoor) {
        self.frontDoor = frontDoor
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        frontDoor.bytesArrived()
        context.fireChannelRead(data)
    }
}
