import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// `streams`: opens `concurrency` connections, then sends one streaming request on each at the same
/// moment and follows every stream to its end. Per stream it records the time to first byte (from
/// writing the request to the first body byte) and the time of each event boundary (a blank line),
/// and whether it saw `data: [DONE]`. Prints one JSON summary line.
struct StreamsCommand {
    static let usage = "streams --url URL [--token T] --body JSON [--concurrency 256] [--timeout-s 120] [--threads 1]"

    struct Configuration: Sendable {
        var url: LoopbackURL
        var token: String?
        var body: String
        var concurrency: Int
        var timeout: TimeAmount
        var threads: Int
    }

    static func run(_ arguments: Arguments) throws {
        try arguments.allowOnly(["url", "token", "body", "concurrency", "timeout-s", "threads"])
        let token = arguments.string("token", default: "")
        let configuration = Configuration(
            url: try LoopbackURL(try arguments.string("url")),
            token: token.isEmpty ? nil : token,
            body: try arguments.string("body"),
            concurrency: try arguments.int("concurrency", default: 256, in: 1...20_000),
            timeout: .seconds(Int64(try arguments.int("timeout-s", default: 120, in: 1...3600))),
            threads: try arguments.int("threads", default: 1, in: 1...64)
        )
        let group = MultiThreadedEventLoopGroup(numberOfThreads: configuration.threads)
        defer { try? group.syncShutdownGracefully() }
        let summary = try measure(configuration, group: group)
        print(summary)
    }

    private static func measure(_ configuration: Configuration, group: MultiThreadedEventLoopGroup) throws -> String {
        let collector = Collector(expected: configuration.concurrency, promise: group.next().makePromise())
        let request = RequestTemplate(configuration)
        let bootstrap = ClientBootstrap(group: group)
            .connectTimeout(.seconds(5))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(StreamHandler(request: request, collector: collector))
                }
            }

        // Connect everything first, so that every request leaves at the same moment. Connecting
        // may take the whole timeout at most; what is not connected by then counts as failed.
        var channels: [any Channel] = []
        var connectFailures = 0
        let connectDeadline = NIODeadline.now() + configuration.timeout
        for _ in 0..<configuration.concurrency {
            do {
                guard NIODeadline.now() < connectDeadline else { throw RunError("connecting took longer than the timeout") }
                channels.append(try bootstrap.connect(host: configuration.url.host, port: configuration.url.port).wait())
            } catch {
                connectFailures += 1
                collector.record(StreamResult(status: nil, firstByteNanoseconds: nil, eventTimes: [], sawDone: false, connectFailed: true))
            }
        }
        let connected = channels
        let start = NIODeadline.now()
        for channel in connected {
            channel.pipeline.fireUserInboundEventTriggered(StartStream())
        }
        let timeout = group.next().scheduleTask(deadline: start + configuration.timeout) {
            for channel in connected { channel.close(promise: nil) }
        }
        let results = try collector.promise.futureResult.wait()
        timeout.cancel()
        let wall = NIODeadline.now() - start
        for channel in connected { channel.close(promise: nil) }
        return summarize(results, configuration: configuration, wall: wall, connectFailures: connectFailures)
    }

    private static func summarize(_ results: [StreamResult], configuration: Configuration, wall: TimeAmount, connectFailures: Int) -> String {
        let completed = results.filter(\.completed)
        var firstBytes: [UInt64] = []
        var gaps: [UInt64] = []
        var events = 0
        var statuses: [Int: Int] = [:]
        for result in results {
            if let firstByte = result.firstByteNanoseconds { firstBytes.append(firstByte) }
            events += result.eventTimes.count
            for (previous, next) in zip(result.eventTimes, result.eventTimes.dropFirst()) { gaps.append(next - previous) }
            if let status = result.status { statuses[status, default: 0] += 1 }
        }
        let statusJSON = statuses.keys.sorted().map { "\"\($0)\":\(statuses[$0]!)" }.joined(separator: ",")
        let ttfb = Distribution(firstBytes)
        let gapDistribution = Distribution(gaps)
        return "{\"streams\":\(configuration.concurrency),\"completed\":\(completed.count),\"connect_failures\":\(connectFailures),"
            + "\"statuses\":{\(statusJSON)},\"events_total\":\(events),\"events_per_completed_stream\":"
            + (completed.isEmpty ? "null" : JSON.fixed(Double(completed.reduce(0) { $0 + $1.eventTimes.count }) / Double(completed.count), 1))
            + ",\"ttfb_ms\":\(ttfb.millisecondsJSON),\"gap_ms\":\(gapDistribution.millisecondsJSON),\"gaps\":\(gapDistribution.count),"
            + "\"wall_s\":\(JSON.fixed(Double(wall.nanoseconds) / 1e9, 3))}"
    }
}

/// The request every stream sends, encoded once.
struct RequestTemplate: Sendable {
    let head: HTTPRequestHead
    let body: ByteBuffer

    init(_ configuration: StreamsCommand.Configuration) {
        self.init(url: configuration.url, token: configuration.token, body: configuration.body, accept: "text/event-stream")
    }

    init(url: LoopbackURL, token: String?, body: String, accept: String) {
        var headers = HTTPHeaders()
        headers.add(name: "host", value: url.hostHeader)
        headers.add(name: "content-type", value: "application/json")
        headers.add(name: "accept", value: accept)
        headers.add(name: "content-length", value: String(body.utf8.count))
        if let token { headers.add(name: "authorization", value: "Bearer \(token)") }
        head = HTTPRequestHead(version: .http1_1, method: .POST, uri: url.path, headers: headers)
        self.body = ByteBuffer(string: body)
    }
}

/// What one stream saw. Times are nanoseconds from writing its request.
struct StreamResult: Sendable {
    var status: Int?
    var firstByteNanoseconds: UInt64?
    var eventTimes: [UInt64]
    var sawDone: Bool
    var connectFailed = false
    var ended = false

    /// Answered 200, ended cleanly and saw `data: [DONE]`.
    var completed: Bool { status == 200 && sawDone && ended }
}

/// Gathers the results of all streams; completes its promise when each has reported once.
final class Collector: Sendable {
    let promise: EventLoopPromise<[StreamResult]>
    private let expected: Int
    private let results: Mutex<[StreamResult]>

    init(expected: Int, promise: EventLoopPromise<[StreamResult]>) {
        self.expected = expected
        self.promise = promise
        results = Mutex([])
    }

    func record(_ result: StreamResult) {
        let all: [StreamResult]? = results.withLock { results in
            results.append(result)
            return results.count == expected ? results : nil
        }
        if let all { promise.succeed(all) }
    }
}

/// The user event that tells a connected stream to send its request.
struct StartStream {}

/// Follows one streaming answer: status, first body byte, event boundaries, `[DONE]`.
private final class StreamHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    private let request: RequestTemplate
    private let collector: Collector
    private var sentAt: NIODeadline?
    private var result = StreamResult(status: nil, firstByteNanoseconds: nil, eventTimes: [], sawDone: false)
    private var reported = false
    /// Blank-line detection across reads: the last byte other than `\r` was a `\n`.
    private var afterNewline = false
    /// The first bytes of the event being read, enough to recognise `data: [DONE]`.
    private var eventStart: [UInt8] = []
    private static let done = Array("data: [DONE]".utf8)

    init(request: RequestTemplate, collector: Collector) {
        self.request = request
        self.collector = collector
        result.eventTimes.reserveCapacity(256)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard event is StartStream else { return context.fireUserInboundEventTriggered(event) }
        sentAt = .now()
        context.write(wrapOutboundOut(.head(request.head)), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(request.body))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let sentAt else { return }
        switch unwrapInboundIn(data) {
        case .head(let head):
            result.status = Int(head.status.code)
        case .body(let chunk):
            let elapsed = UInt64((NIODeadline.now() - sentAt).nanoseconds)
            if result.firstByteNanoseconds == nil { result.firstByteNanoseconds = elapsed }
            scan(chunk, at: elapsed)
        case .end:
            result.ended = true
            report()
            context.close(promise: nil)
        }
    }

    private func scan(_ chunk: ByteBuffer, at elapsed: UInt64) {
        chunk.withUnsafeReadableBytes { bytes in
            for byte in bytes {
                if byte == UInt8(ascii: "\n") {
                    if afterNewline {
                        result.eventTimes.append(elapsed)
                        if eventStart.starts(with: Self.done) { result.sawDone = true }
                        eventStart.removeAll(keepingCapacity: true)
                        afterNewline = false
                    } else {
                        afterNewline = true
                    }
                } else if byte != UInt8(ascii: "\r") {
                    afterNewline = false
                    if eventStart.count < Self.done.count { eventStart.append(byte) }
                }
            }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        report()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    private func report() {
        guard !reported else { return }
        reported = true
        collector.record(result)
    }
}
