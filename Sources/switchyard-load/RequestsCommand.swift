import NIOCore
import NIOHTTP1
import NIOPosix

/// `requests`: a fixed number of sequential requests on one keep-alive connection, each sent when
/// the previous answer has ended; `warmup` more go first and are not counted. Prints one JSON
/// summary line with exact latency percentiles (every request is kept, nothing is bucketed).
/// This is the client that drives the gateway under callgrind: it is not itself under valgrind,
/// and it sends exactly `count` requests between the two `callgrind_control` calls.
struct RequestsCommand {
    static let usage = "requests --url URL [--token T] --body JSON --count N [--warmup 0] [--timeout-s 300]"

    static func run(_ arguments: Arguments) throws {
        try arguments.allowOnly(["url", "token", "body", "count", "warmup", "timeout-s"])
        let url = try LoopbackURL(try arguments.string("url"))
        let token = arguments.string("token", default: "")
        let template = RequestTemplate(url: url, token: token.isEmpty ? nil : token, body: try arguments.string("body"), accept: "application/json")
        let count = try arguments.int("count", in: 1...10_000_000)
        let warmup = try arguments.int("warmup", default: 0, in: 0...10_000_000)
        let timeout = TimeAmount.seconds(Int64(try arguments.int("timeout-s", default: 300, in: 1...86_400)))

        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        let promise = group.next().makePromise(of: SequentialResult.self)
        let connecting = ClientBootstrap(group: group)
            .connectTimeout(.seconds(5))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(
                        SequentialHandler(request: template, total: warmup + count, warmup: warmup, promise: promise))
                }
            }
            .connect(host: url.host, port: url.port)
        let channel: any Channel
        do {
            channel = try connecting.wait()
        } catch {
            promise.fail(error)
            throw RunError("cannot connect to \(url.hostHeader): \(error)")
        }
        let start = NIODeadline.now()
        channel.pipeline.fireUserInboundEventTriggered(StartStream())
        let deadline = channel.eventLoop.scheduleTask(in: timeout) { channel.close(promise: nil) }
        let result = try promise.futureResult.wait()
        deadline.cancel()
        try? channel.close().wait()
        let wall = NIODeadline.now() - start

        let latencies = Distribution(result.latencies)
        let measuredSeconds = Double(result.measuredNanoseconds) / 1e9
        let rate = measuredSeconds > 0 ? Double(result.latencies.count) / measuredSeconds : 0
        let statuses = result.statuses.keys.sorted().map { "\"\($0)\":\(result.statuses[$0]!)" }.joined(separator: ",")
        print(
            "{\"count\":\(count),\"answered\":\(result.latencies.count),\"ok\":\(result.ok),\"statuses\":{\(statuses)},"
                + "\"closed_early\":\(result.closedEarly),\"latency_us\":\(latencies.microsecondsJSON),"
                + "\"requests_per_s\":\(JSON.fixed(rate, 1)),\"wall_s\":\(JSON.fixed(Double(wall.nanoseconds) / 1e9, 3))}")
        if result.closedEarly || result.ok != count { throw RunError("not every request was answered with 2xx") }
    }
}

struct SequentialResult: Sendable {
    var latencies: [UInt64] = []
    var ok = 0
    var statuses: [Int: Int] = [:]
    var closedEarly = false
    var measuredNanoseconds: Int64 = 0
}

/// Sends the next request when the previous answer has ended; reports after the last.
private final class SequentialHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    private let request: RequestTemplate
    private let total: Int
    private let warmup: Int
    private let promise: EventLoopPromise<SequentialResult>
    private var sent = 0
    private var sentAt = NIODeadline.now()
    private var measuredFrom: NIODeadline?
    private var status = 0
    private var result = SequentialResult()
    private var finished = false

    init(request: RequestTemplate, total: Int, warmup: Int, promise: EventLoopPromise<SequentialResult>) {
        self.request = request
        self.total = total
        self.warmup = warmup
        self.promise = promise
        result.latencies.reserveCapacity(total - warmup)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard event is StartStream else { return context.fireUserInboundEventTriggered(event) }
        send(context: context)
    }

    private func send(context: ChannelHandlerContext) {
        sent += 1
        sentAt = .now()
        if sent == warmup + 1 { measuredFrom = sentAt }
        context.write(wrapOutboundOut(.head(request.head)), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(request.body))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            status = Int(head.status.code)
        case .body:
            break
        case .end:
            let now = NIODeadline.now()
            if sent > warmup {
                result.latencies.append(UInt64((now - sentAt).nanoseconds))
                result.statuses[status, default: 0] += 1
                if (200..<300).contains(status) { result.ok += 1 }
            }
            if sent < total {
                send(context: context)
            } else {
                if let measuredFrom { result.measuredNanoseconds = (now - measuredFrom).nanoseconds }
                finish()
            }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !finished { result.closedEarly = true }
        finish()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    private func finish() {
        guard !finished else { return }
        finished = true
        promise.succeed(result)
    }
}

/// A run that went wrong (printed, exit status 1).
struct RunError: Error {
    let message: String
    init(_ message: String) { self.message = message }
}
