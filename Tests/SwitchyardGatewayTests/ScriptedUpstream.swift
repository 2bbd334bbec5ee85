import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Synchronization

/// A raw HTTP/1.1 upstream on 127.0.0.1 whose every answer a test scripts, and which counts what the
/// pool cares about: connections opened, open at once, requests per connection, bytes it got out.
final class ScriptedUpstream: Sendable {
    enum Action: Sendable {
        /// Write these bytes as the whole answer (head and body).
        case reply(String)
        /// Write these bytes, then close (an answer whose end is the connection's end).
        case replyAndClose(String)
        /// Close the connection without answering.
        case close
        /// Wait, then reply.
        case delayed(milliseconds: Int64, String)
        /// An SSE stream of `events` copies of `event` as fast as the connection takes them, then `[DONE]`.
        case flood(event: String, events: Int)
    }

    struct Request: Sendable {
        var connection: Int
        /// 1 for the first request on its connection.
        var number: Int
        var head: String
        var body: String
    }

    private struct Counters {
        var connections = 0
        var open = 0
        var maxOpen = 0
        var requests: [Request] = []
        var floodBytesWritten = 0
    }

    private let counters = Mutex(Counters())
    private let script: @Sendable (Request) -> Action
    private let channel: Mutex<(any Channel)?> = Mutex(nil)

    init(script: @escaping @Sendable (Request) -> Action) {
        self.script = script
    }

    var connections: Int { counters.withLock { $0.connections } }
    var maxOpenConnections: Int { counters.withLock { $0.maxOpen } }
    var requests: [Request] { counters.withLock { $0.requests } }
    /// The chat requests (model discovery's list requests left out).
    var chatRequests: [Request] { requests.filter { $0.head.contains("/chat/completions") } }
    var floodBytesWritten: Int { counters.withLock { $0.floodBytesWritten } }

    /// Starts listening (with TLS when `tls` is given) and returns the port.
    func start(tls: NIOSSLContext? = nil) async throws -> Int {
        let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls { try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls)) }
                    try channel.pipeline.syncOperations.addHandler(Connection(upstream: self))
                }
            }
        let server = try await bootstrap.bind(host: "127.0.0.1", port: 0).get()
        channel.withLock { $0 = server }
        return server.localAddress!.port!
    }

    func stop() async {
        let server = channel.withLock { $0 }
        try? await server?.close()
    }

    fileprivate func opened() -> Int {
        counters.withLock {
            $0.connections += 1
            $0.open += 1
            $0.maxOpen = max($0.maxOpen, $0.open)
            return $0.connections
        }
    }

    fileprivate func closed() {
        counters.withLock { $0.open -= 1 }
    }

    fileprivate func action(for request: Request) -> Action {
        counters.withLock { $0.requests.append(request) }
        return script(request)
    }

    fileprivate func wrote(_ bytes: Int) {
        counters.withLock { $0.floodBytesWritten += bytes }
    }

    private final class Connection: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer

        let upstream: ScriptedUpstream
        var number = 0
        var requestsSeen = 0
        var pending = ByteBuffer()
        var flood: (event: ByteBuffer, remaining: Int)?

        init(upstream: ScriptedUpstream) {
            self.upstream = upstream
        }

        func channelActive(context: ChannelHandlerContext) {
            number = upstream.opened()
        }

        func channelInactive(context: ChannelHandlerContext) {
            upstream.closed()
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var buffer = unwrapInboundIn(data)
            pending.writeBuffer(&buffer)
            while let request = takeRequest() {
                requestsSeen += 1
                let action = upstream.action(for: Request(connection: number, number: requestsSeen, head: request.head, body: request.body))
                perform(action, context: context)
            }
        }

        private func takeRequest() -> (head: String, body: String)? {
            let text = String(buffer: pending)
            guard let end = text.range(of: "\r\n\r\n") else { return nil }
            let head = String(text[..<end.lowerBound])
            let length =
                head.split(separator: "\r\n").first { $0.lowercased().hasPrefix("content-length:") }
                .flatMap { Int($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) } ?? 0
            let headBytes = text.utf8.distance(from: text.utf8.startIndex, to: end.upperBound)
            guard pending.readableBytes >= headBytes + length else { return nil }
            pending.moveReaderIndex(forwardBy: headBytes)
            let body = pending.readString(length: length) ?? ""
            pending.discardReadBytes()
            return (head, body)
        }

        private func perform(_ action: Action, context: ChannelHandlerContext) {
            switch action {
            case .reply(let text):
                context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: text)), promise: nil)
            case .replyAndClose(let text):
                context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: text))).whenComplete { _ in context.close(promise: nil) }
            case .close:
                context.close(promise: nil)
            case .delayed(let milliseconds, let text):
                let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
                context.eventLoop.scheduleTask(in: .milliseconds(milliseconds)) {
                    loopBound.value.writeAndFlush(ByteBuffer(string: text).asNIOAny, promise: nil)
                }
            case .flood(let event, let events):
                let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: identity\r\nconnection: close\r\n\r\n"
                context.write(wrapOutboundOut(ByteBuffer(string: head)), promise: nil)
                flood = (ByteBuffer(string: event), events)
                writeFlood(context: context)
            }
        }

        /// Writes while the connection takes more, counting the bytes that really left.
        private func writeFlood(context: ChannelHandlerContext) {
            while var flood, flood.remaining > 0, context.channel.isWritable {
                let bytes = flood.event.readableBytes
                let upstream = self.upstream
                context.write(wrapOutboundOut(flood.event)).whenSuccess { upstream.wrote(bytes) }
                flood.remaining -= 1
                self.flood = flood
                if flood.remaining == 0 {
                    context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: "data: [DONE]\n\n")), promise: nil)
                    context.close(promise: nil)
                }
            }
            context.flush()
        }

        func channelWritabilityChanged(context: ChannelHandlerContext) {
            if context.channel.isWritable { writeFlood(context: context) }
        }
    }
}

extension Array where Element: Hashable {
    /// How many different elements.
    var uniqued: Int { Set(self).count }
}

extension ByteBuffer {
    fileprivate var asNIOAny: NIOAny { NIOAny(self) }
}

/// A whole chat completion answer with usage, as raw HTTP.
func cannedCompletion(connectionClose: Bool = false) -> String {
    let body =
        #"{"id":"c1","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}"#
    return "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: \(body.utf8.count)\r\n"
        + (connectionClose ? "connection: close\r\n" : "") + "\r\n" + body
}

/// A blocking TCP client for byte-level tests: what a slow, silent or hostile client does.
final class RawClient {
    private let fd: Int32

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else {
            close(fd)
            throw POSIXError(.ECONNREFUSED)
        }
    }

    deinit { close(fd) }

    /// Shrinks the receive buffer, so that a client that does not read holds back little.
    func setReceiveBuffer(_ bytes: Int32) {
        var bytes = bytes
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, socklen_t(MemoryLayout<Int32>.size))
    }

    /// Closes the sending side (a half-close): the server reads end-of-file after what was sent.
    func finishSending() {
        shutdown(fd, Int32(SHUT_WR))
    }

    func send(_ text: String) {
        _ = text.utf8CString.withUnsafeBufferPointer { Glibc.send(fd, $0.baseAddress, $0.count - 1, Int32(MSG_NOSIGNAL)) }
    }

    /// What arrived within `seconds`, and whether the server closed the connection. Returns as soon as
    /// the server closed or one whole HTTP answer arrived, so a generous deadline costs nothing when the
    /// server is quick but keeps a loaded machine from failing the test. Polls without blocking, so
    /// the test's thread stays free for the servers in the same process.
    func read(for seconds: Double) async -> (text: String, closed: Bool) {
        var bytes: [UInt8] = []
        let end = Date().addingTimeInterval(seconds)
        var buffer = [UInt8](repeating: 0, count: 65536)
        while Date() < end {
            let count = recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
            if count == 0 { return (String(decoding: bytes, as: UTF8.self), true) }
            if count > 0 {
                bytes += buffer[0..<count]
                if Self.holdsWholeAnswer(bytes) { return (String(decoding: bytes, as: UTF8.self), false) }
                continue
            }
            if errno != EAGAIN && errno != EWOULDBLOCK { return (String(decoding: bytes, as: UTF8.self), true) }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return (String(decoding: bytes, as: UTF8.self), false)
    }

    /// Whether `bytes` hold one whole answer: a head and the body its content-length or last chunk says.
    static func holdsWholeAnswer(_ bytes: [UInt8]) -> Bool {
        let text = String(decoding: bytes, as: UTF8.self)
        guard let headEnd = text.range(of: "\r\n\r\n") else { return false }
        let head = text[..<headEnd.lowerBound].lowercased()
        let body = text[headEnd.upperBound...]
        if head.contains("transfer-encoding: chunked") { return body.hasSuffix("0\r\n\r\n") }
        guard let line = head.split(separator: "\r\n").first(where: { $0.hasPrefix("content-length:") }),
            let length = Int(line.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces))
        else { return false }
        return body.utf8.count >= length
    }
}
