// The request path's upstream client, measured against the alternative the design named:
// AsyncHTTPClient's delegate API pinned to the same event loop (`.delegateAndChannel(on:)`).
// Both send the same POSTs one after another from one event loop to a canned keep-alive upstream
// in this process, started from the previous answer's end (no Task, no hop), so the difference in
// CPU per request is the clients' own. Not shipped; run by `make bench-clients`.
//
//   switchyard-clientbench [requests] [own|ahc|both]
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import SwitchyardGateway

let requests = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1]) ?? 20_000 : 20_000
let which = CommandLine.arguments.count > 2 ? CommandLine.arguments[2] : "both"
let requestBody = ByteBuffer(string: #"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#)
let answer =
    #"{"id":"c","object":"chat.completion","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hello"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}"#

/// A keep-alive HTTP/1.1 server that answers every request with the same chat completion.
final class CannedAnswer: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart
    let body = ByteBuffer(string: answer)

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .end = unwrapInboundIn(data) else { return }
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: "application/json")
        headers.add(name: "content-length", value: String(body.readableBytes))
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }
}

/// Reads an answer through and keeps nothing: what the relay does with a body it passes on.
final class Discard: HTTPClientResponseDelegate {
    typealias Response = Void
    func didReceiveBodyPart(task: HTTPClient.Task<Void>, _ buffer: ByteBuffer) -> EventLoopFuture<Void> { task.eventLoop.makeSucceededVoidFuture() }
    func didFinishRequest(task: HTTPClient.Task<Void>) throws {}
}

func sequentialAHC(_ client: HTTPClient, url: String, count: Int, on loop: any EventLoop) -> EventLoopFuture<Void> {
    loop.flatSubmit {
        @Sendable func next(_ remaining: Int) -> EventLoopFuture<Void> {
            guard remaining > 0 else { return loop.makeSucceededVoidFuture() }
            do {
                var request = try HTTPClient.Request(url: url, method: .POST, body: .byteBuffer(requestBody))
                request.headers.add(name: "content-type", value: "application/json")
                return client.execute(request: request, delegate: Discard(), eventLoop: .delegateAndChannel(on: loop)).futureResult
                    .flatMap { next(remaining - 1) }
            } catch {
                return loop.makeFailedFuture(error)
            }
        }
        return next(count)
    }
}

func cpuSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
}

func measure(_ name: String, _ run: (Int) async throws -> Void) async rethrows {
    try await run(max(1, requests / 10))  // warm: connections open, caches filled
    let (cpu, wall) = (cpuSeconds(), ContinuousClock.now)
    try await run(requests)
    let seconds = (ContinuousClock.now - wall) / .seconds(1)
    let perRequest = (cpuSeconds() - cpu) / Double(requests) * 1e6
    print("| \(name) | \(requests) | \(String(format: "%.0f", Double(requests) / seconds)) | \(String(format: "%.1f", perRequest)) |")
}

// The upstream runs on a loop of its own, the clients on another: per request, the CPU measured is
// the client's plus the same canned answer's.
let serverGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)
let clientGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)
let server = try await ServerBootstrap(group: serverGroup)
    .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
    .childChannelInitializer { channel in
        channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.configureHTTPServerPipeline()
            try channel.pipeline.syncOperations.addHandler(CannedAnswer())
        }
    }
    .bind(host: "127.0.0.1", port: 0).get()
let baseURL = "http://127.0.0.1:\(server.localAddress!.port!)/v1"
let loop = clientGroup.next()

print("| client | requests | requests/s | CPU µs/request (client + canned upstream) |")
print("|---|---|---|---|")
if which == "own" || which == "both" {
    let own = UpstreamClient(group: clientGroup, settings: UpstreamPoolSettings())
    try await measure("own (UpstreamClient, the request path's)") { count in
        try await own.sendSequentially(count: count, baseURL: baseURL, path: "/chat/completions", body: requestBody, on: loop).get()
    }
    await own.shutdown()
}
if which == "ahc" || which == "both" {
    let ahc = HTTPClient(eventLoopGroupProvider: .shared(clientGroup))
    try await measure("AsyncHTTPClient, delegate on the same loop") { count in
        try await sequentialAHC(ahc, url: baseURL + "/chat/completions", count: count, on: loop).get()
    }
    try await ahc.shutdown().get()
}
try await server.close().get()
try await clientGroup.shutdownGracefully()
try await serverGroup.shutdownGracefully()
