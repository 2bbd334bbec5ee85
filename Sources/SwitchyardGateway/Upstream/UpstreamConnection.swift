import NIOCore
import NIOHTTP1

/// Receives one upstream answer as it arrives, on the event loop of the client's connection.
protocol UpstreamResponseHandler: AnyObject {
    func upstreamHead(status: Int, headers: HTTPHeaders)
    func upstreamBody(_ buffer: ByteBuffer)
    /// The end of one read from the network: a good moment to flush what was passed on.
    func upstreamReadComplete()
    func upstreamEnd()
    func upstreamFailed(_ error: UpstreamFailure)
}

extension UpstreamResponseHandler {
    /// Hands on a whole answer made by a translation: head, body and end at once.
    func deliverWhole(status: Int, headers: HTTPHeaders, body: ByteBuffer) {
        upstreamHead(status: status, headers: headers)
        upstreamBody(body)
        upstreamEnd()
    }
}

/// Why an upstream exchange failed, in words that never carry a secret.
struct UpstreamFailure: Error {
    enum Kind {
        case connect
        case connectTimeout
        case closed
        case io
        /// The upstream answered, but not in a way the gateway can pass on: `error` says how.
        case answer
    }

    var kind: Kind
    var detail: String
    var error: GatewayError? = nil
}

/// The request line, headers and body of one upstream request, ready to write. Header names and
/// values were checked where they came from (the seed, the client's parsed request): they are
/// written as they are.
struct UpstreamRequestHead {
    var method = HTTPMethod.POST
    var path: String
    var headers: [(String, String)]
    var body: ByteBuffer

    /// Bodies up to this size are copied behind the head, so that the request is one buffer.
    static let bodyCopiedWithHead = 16 * 1024

    /// The request line and header block, as they go on the wire, and behind them the body if it is small.
    func encoded(allocator: ByteBufferAllocator) -> (bytes: ByteBuffer, includesBody: Bool) {
        let includesBody = body.readableBytes <= Self.bodyCopiedWithHead
        let bytes = HTTPHeadBytes.encode(
            startLine: (method.rawValue, " " + path, " HTTP/1.1"), fields: headers, body: includesBody ? body : nil, allocator: allocator)
        return (bytes, includesBody)
    }
}

/// One keep-alive HTTP/1.1 connection to an upstream, owned by its pool, used by one call at a time.
/// Every method runs on the connection's event loop.
final class UpstreamConnection: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var parser = UpstreamResponseParser()
    private var context: ChannelHandlerContext?
    private(set) var call: UpstreamCall?
    /// Bytes of the current call's answer have arrived.
    private var receivedResponse = false
    /// Both sides allow another request on this connection after the current one.
    private var reusable = true
    private(set) var isClosed = false
    /// Whether the channel reads on its own (`autoRead`, on when it connects).
    private var isReading = true
    weak var pool: UpstreamPool?
    var idleSince = NIODeadline.now()

    var channel: (any Channel)? { context?.channel }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func send(_ request: UpstreamRequestHead, for call: UpstreamCall) {
        guard let context, !isClosed else {
            call.connectionClosed(self, receivedResponse: false)
            return
        }
        self.call = call
        receivedResponse = false
        reusable = true
        parser.expectResponse(to: request.method)
        // Head and body in one buffer, or a large body as a second buffer in the same flush (one
        // `writev`); not through an encoder part by part.
        let (head, includesBody) = request.encoded(allocator: context.channel.allocator)
        if includesBody {
            context.writeAndFlush(wrapOutboundOut(head), promise: nil)
        } else {
            context.write(wrapOutboundOut(head), promise: nil)
            context.writeAndFlush(wrapOutboundOut(request.body), promise: nil)
        }
        setReading(true)
    }

    /// Stops or resumes reading the upstream while the client cannot take more.
    func setReading(_ reading: Bool) {
        guard reading != isReading, let channel = context?.channel else { return }
        isReading = reading
        try? channel.syncOptions?.setOption(ChannelOptions.autoRead, value: reading)
        if reading { channel.read() }
    }

    /// Gives up the current exchange: the connection cannot be reused mid-answer.
    func abandon() {
        call = nil
        close()
    }

    func close() {
        guard !isClosed else { return }
        isClosed = true
        context?.close(promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        guard let call else {
            // Bytes nobody asked for: the connection is out of step.
            close()
            return
        }
        receivedResponse = true
        do {
            while let part = try parser.next(from: &bytes) {
                switch part {
                case .head(let status, let headers, let keepAlive):
                    if !keepAlive { reusable = false }
                    call.head(status: status, headers: headers)
                case .body(let buffer):
                    call.body(buffer)
                case .end:
                    self.call = nil
                    // Anything behind the answer: the connection is out of step.
                    if reusable, !isClosed, bytes.readableBytes == 0 {
                        idleSince = .now()
                        pool?.release(self)
                    } else {
                        close()
                    }
                    call.end()
                    return
                }
                // The call may have been given up while it was handed a part.
                guard self.call === call else { return }
            }
        } catch {
            self.call = nil
            close()
            call.failed(UpstreamFailure(kind: .io, detail: error.description))
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        call?.readComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        isClosed = true
        pool?.connectionClosed(self)
        let endsAnswer = parser.inputEnded()
        if let call {
            self.call = nil
            if endsAnswer {
                call.end()  // a body read until the upstream closed
            } else {
                call.connectionClosed(self, receivedResponse: receivedResponse)
            }
        }
        self.context = nil
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let call {
            self.call = nil
            call.failed(UpstreamFailure(kind: .io, detail: Self.describe(error)))
        }
        close()
    }

    /// A short description of a network error: its type and code, never request data.
    static func describe(_ error: any Error) -> String {
        switch error {
        case let error as IOError: return error.description
        case is ChannelError: return "\(error)"
        default: return String(describing: type(of: error))
        }
    }
}
