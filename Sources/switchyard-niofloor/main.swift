// The floor under Switchyard's request path: the least a SwiftNIO HTTP/1.1 relay can do per
// request on this stack — NIOHTTP1's server and client pipelines, one keep-alive upstream
// connection per client connection on the same event loop, bytes passed on untouched. No routing,
// no authentication, no outcome: what `bench/bench.sh` (BENCH_FLOOR=1) measures it against is
// the cost of NIO's HTTP layers and the sockets themselves, which no gateway logic can go below.
//
// Usage: switchyard-niofloor LISTEN_PORT UPSTREAM_PORT

import NIOCore
import NIOHTTP1
import NIOPosix

let arguments = CommandLine.arguments
guard arguments.count == 3, let listenPort = Int(arguments[1]), let upstreamPort = Int(arguments[2]) else {
    print("usage: switchyard-niofloor LISTEN_PORT UPSTREAM_PORT")
    exit(2)
}

/// Passes the upstream's answer back to the client's channel as it comes.
final class UpstreamHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart
    private let client: any Channel

    init(client: any Channel) {
        self.client = client
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            client.write(
                HTTPServerResponsePart.head(HTTPResponseHead(version: head.version, status: head.status, headers: head.headers)), promise: nil)
        case .body(let buffer):
            client.write(HTTPServerResponsePart.body(.byteBuffer(buffer)), promise: nil)
        case .end:
            client.writeAndFlush(HTTPServerResponsePart.end(nil), promise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
        client.close(promise: nil)
    }
}

/// One client connection: its requests go to one upstream connection, opened with the first.
final class RelayHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    private var upstream: EventLoopFuture<any Channel>?
    private let upstreamPort: Int

    init(upstreamPort: Int) {
        self.upstreamPort = upstreamPort
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let client = context.channel
        if upstream == nil {
            upstream = ClientBootstrap(group: context.eventLoop)
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        try channel.pipeline.syncOperations.addHandler(UpstreamHandler(client: client))
                    }
                }
                .connect(host: "127.0.0.1", port: upstreamPort)
        }
        let part: HTTPClientRequestPart
        switch unwrapInboundIn(data) {
        case .head(let head): part = .head(head)
        case .body(let buffer): part = .body(.byteBuffer(buffer))
        case .end: part = .end(nil)
        }
        upstream?.whenSuccess { channel in
            if case .end = part { channel.writeAndFlush(part, promise: nil) } else { channel.write(part, promise: nil) }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        upstream?.whenSuccess { $0.close(promise: nil) }
    }
}

let group = MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)
let server = try ServerBootstrap(group: group)
    .serverChannelOption(.backlog, value: 1024)
    .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
    .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
    .childChannelInitializer { channel in
        channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.configureHTTPServerPipeline()
            try channel.pipeline.syncOperations.addHandler(RelayHandler(upstreamPort: upstreamPort))
        }
    }
    .bind(host: "127.0.0.1", port: listenPort)
    .wait()
print("switchyard-niofloor on 127.0.0.1:\(listenPort) → 127.0.0.1:\(upstreamPort)")
try server.closeFuture.wait()
