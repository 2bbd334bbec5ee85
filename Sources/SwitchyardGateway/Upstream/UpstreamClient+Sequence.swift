import NIOCore
import NIOHTTP1

extension UpstreamClient {
    /// Sends `count` POSTs of `body` to `baseURL` + `path` from `loop`, each once the previous answer
    /// has ended, reading every answer through: the client's own cost per request, measured by
    /// `switchyard-clientbench` against AsyncHTTPClient's delegate API on the same loop.
    package func sendSequentially(count: Int, baseURL: String, path: String, body: ByteBuffer, on loop: any EventLoop)
        -> EventLoopFuture<Void>
    {
        loop.flatSubmit {
            let promise = loop.makePromise(of: Void.self)
            guard let origin = self.origin(of: baseURL, on: loop) else {
                promise.fail(UpstreamFailure(kind: .connect, detail: "not an http(s) URL"))
                return promise.futureResult
            }
            let headers: [(String, String)] = [
                ("host", origin.hostHeader), ("content-type", "application/json"), ("content-length", String(body.readableBytes)),
            ]
            let request = UpstreamRequestHead(path: origin.basePath + path, headers: headers, body: body)
            SequentialSender(client: self, request: request, origin: origin, loop: loop, remaining: count, promise: promise).next()
            return promise.futureResult
        }
    }
}

/// One request after another on one loop, each started from the end of the one before.
private final class SequentialSender: UpstreamResponseHandler {
    let client: UpstreamClient
    let request: UpstreamRequestHead
    let origin: UpstreamOrigin
    let loop: any EventLoop
    var remaining: Int
    let promise: EventLoopPromise<Void>
    var call: UpstreamCall?

    init(
        client: UpstreamClient, request: UpstreamRequestHead, origin: UpstreamOrigin, loop: any EventLoop, remaining: Int,
        promise: EventLoopPromise<Void>
    ) {
        (self.client, self.request, self.origin, self.loop, self.remaining, self.promise) = (client, request, origin, loop, remaining, promise)
    }

    func next() {
        guard remaining > 0 else { return promise.succeed() }
        remaining -= 1
        call = client.call(request, to: origin, on: loop, handler: self)
    }

    func upstreamHead(status: Int, headers: HTTPHeaders) {}
    func upstreamBody(_ buffer: ByteBuffer) {}
    func upstreamReadComplete() {}

    func upstreamEnd() {
        call = nil
        next()
    }

    func upstreamFailed(_ error: UpstreamFailure) {
        call = nil
        promise.fail(error)
    }
}
