import NIOCore
import NIOHTTP1
import NIOPosix

/// `sse-upstream`: a fixed-answer OpenAI-compatible upstream on 127.0.0.1. `POST
/// /v1/chat/completions` with `"stream": true` answers `text/event-stream`: `events`
/// `chat.completion.chunk` events, the first at once and each next one `gap` later (scheduled on the
/// connection's event loop, at fixed offsets from the first so one late event does not delay the
/// rest), then a usage chunk and `data: [DONE]` right after the last. Without `"stream": true` it
/// answers a canned chat completion, the same one the nginx upstream of `bench.sh` serves.
/// Connections are kept alive.
struct SSEUpstream {
    struct Configuration: Sendable {
        var port: Int
        var events: Int
        var gap: TimeAmount
        var threads: Int
    }

    static let usage = "sse-upstream --port P [--events 200] [--gap-ms 5] [--threads 1]"

    static func run(_ arguments: Arguments) throws {
        try arguments.allowOnly(["port", "events", "gap-ms", "threads"])
        let configuration = Configuration(
            port: try arguments.int("port", in: 0...65535),
            events: try arguments.int("events", default: 200, in: 1...100_000),
            gap: .microseconds(Int64(try arguments.double("gap-ms", default: 5, in: 0...60_000) * 1000)),
            threads: try arguments.int("threads", default: 1, in: 1...64)
        )
        let group = MultiThreadedEventLoopGroup(numberOfThreads: configuration.threads)
        let answers = Answers(events: configuration.events)
        let channel = try ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 4096)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(UpstreamHandler(configuration: configuration, answers: answers))
                }
            }
            .bind(host: "127.0.0.1", port: configuration.port)
            .wait()
        let port = channel.localAddress?.port ?? configuration.port
        print("sse-upstream listening on 127.0.0.1:\(port) (\(configuration.events) events, \(configuration.gap.nanoseconds / 1000) µs apart)")
        try channel.closeFuture.wait()
    }

    /// The fixed bodies, built once.
    struct Answers: Sendable {
        let completion: ByteBuffer
        let firstChunk: ByteBuffer
        let chunk: ByteBuffer
        let lastChunk: ByteBuffer
        /// The usage-only chunk, then `data: [DONE]`.
        let ending: ByteBuffer

        init(events: Int) {
            let prefix = #"data: {"id":"chatcmpl-sse0001","object":"chat.completion.chunk","created":1718000000,"model":"gpt-4o-mini-2024-07-18","#
            completion = ByteBuffer(
                string: #"{"id":"chatcmpl-bench0001","object":"chat.completion","created":1718000000,"model":"gpt-4o-mini-2024-07-18","#
                    + #""system_fingerprint":"fp_bench","choices":[{"index":0,"message":{"role":"assistant","content":"Hello there, nice to meet!","#
                    + #""refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":14,"completion_tokens":7,"total_tokens":21,"#
                    + #""prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}"#)
            firstChunk = ByteBuffer(
                string: prefix + #""choices":[{"index":0,"delta":{"role":"assistant","content":"tok "},"logprobs":null,"finish_reason":null}]}"#
                    + "\n\n")
            chunk = ByteBuffer(string: prefix + #""choices":[{"index":0,"delta":{"content":"tok "},"logprobs":null,"finish_reason":null}]}"# + "\n\n")
            lastChunk = ByteBuffer(string: prefix + #""choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]}"# + "\n\n")
            ending = ByteBuffer(
                string: prefix + #""choices":[],"usage":{"prompt_tokens":14,"completion_tokens":\#(events),"total_tokens":\#(events + 14)}}"# + "\n\n"
                    + "data: [DONE]\n\n")
        }
    }
}

/// One client connection of the upstream: requests one after another (the pipelining handler in
/// front holds the next request until this answer has ended).
private final class UpstreamHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    /// Bodies beyond this are refused (413); the benchmark's are a few hundred bytes.
    private static let maximumBodySize = 1 << 20

    private let configuration: SSEUpstream.Configuration
    private let answers: SSEUpstream.Answers
    private var head: HTTPRequestHead?
    private var body = ByteBuffer()
    private var bodyTooLarge = false
    private var nextEvent: Scheduled<Void>?

    init(configuration: SSEUpstream.Configuration, answers: SSEUpstream.Answers) {
        self.configuration = configuration
        self.answers = answers
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            body.clear()
            bodyTooLarge = false
        case .body(var chunk):
            if body.readableBytes + chunk.readableBytes > Self.maximumBodySize {
                bodyTooLarge = true
            } else {
                body.writeBuffer(&chunk)
            }
        case .end:
            guard let head else { return }
            self.head = nil
            respond(to: head, context: context)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        nextEvent?.cancel()
        nextEvent = nil
        context.fireChannelInactive()
    }

    private func respond(to head: HTTPRequestHead, context: ChannelHandlerContext) {
        let keepAlive = head.isKeepAlive
        if bodyTooLarge {
            return answer(.payloadTooLarge, "application/json", ByteBuffer(string: #"{"error":{"message":"body too large"}}"#), keepAlive, context)
        }
        switch (head.method, head.uri.split(separator: "?", maxSplits: 1).first ?? "") {
        case (.POST, "/v1/chat/completions"):
            if Self.asksForStream(body) {
                startStream(keepAlive: keepAlive, context: context)
            } else {
                answer(.ok, "application/json", answers.completion, keepAlive, context)
            }
        case (.GET, "/"), (.GET, "/health"):
            answer(.ok, "text/plain", ByteBuffer(string: "ok\n"), keepAlive, context)
        default:
            answer(.notFound, "application/json", ByteBuffer(string: #"{"error":{"message":"not found"}}"#), keepAlive, context)
        }
    }

    private func answer(
        _ status: HTTPResponseStatus, _ contentType: String, _ body: ByteBuffer, _ keepAlive: Bool, _ context: ChannelHandlerContext
    ) {
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: contentType)
        headers.add(name: "content-length", value: String(body.readableBytes))
        if !keepAlive { headers.add(name: "connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        end(keepAlive: keepAlive, context: context)
    }

    private func end(keepAlive: Bool, context: ChannelHandlerContext) {
        guard !keepAlive else { return context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil) }
        let written = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: written)
        let channel = context.channel
        written.futureResult.whenComplete { _ in channel.close(promise: nil) }
    }

    private func startStream(keepAlive: Bool, context: ChannelHandlerContext) {
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: "text/event-stream")
        headers.add(name: "cache-control", value: "no-cache")
        if !keepAlive { headers.add(name: "connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
        sendEvent(0, start: .now(), keepAlive: keepAlive, context: context)
    }

    /// Writes event `index` and schedules the next at `start + (index + 1) × gap`.
    private func sendEvent(_ index: Int, start: NIODeadline, keepAlive: Bool, context: ChannelHandlerContext) {
        nextEvent = nil
        guard context.channel.isActive else { return }
        let last = configuration.events - 1
        let event = index == 0 && last > 0 ? answers.firstChunk : index == last ? answers.lastChunk : answers.chunk
        if index < last {
            context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(event))), promise: nil)
            let deadline = start + .nanoseconds(configuration.gap.nanoseconds * Int64(index + 1))
            nextEvent = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [self] in
                sendEvent(index + 1, start: start, keepAlive: keepAlive, context: context)
            }
        } else {
            context.write(wrapOutboundOut(.body(.byteBuffer(event))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(answers.ending))), promise: nil)
            end(keepAlive: keepAlive, context: context)
        }
    }

    /// Whether the body has `"stream"` followed by `:` and `true` (whitespace allowed around the colon).
    static func asksForStream(_ body: ByteBuffer) -> Bool {
        body.withUnsafeReadableBytes { bytes in
            let key = Array(#""stream""#.utf8)
            var index = 0
            while index + key.count <= bytes.count {
                if bytes[index] == key[0], (0..<key.count).allSatisfy({ bytes[index + $0] == key[$0] }) {
                    var cursor = index + key.count
                    func skipSpace() { while cursor < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[cursor]) { cursor += 1 } }
                    skipSpace()
                    if cursor < bytes.count, bytes[cursor] == UInt8(ascii: ":") {
                        cursor += 1
                        skipSpace()
                        let word = Array("true".utf8)
                        return cursor + word.count <= bytes.count && (0..<word.count).allSatisfy { bytes[cursor + $0] == word[$0] }
                    }
                }
                index += 1
            }
            return false
        }
    }
}
