import NIOCore
import NIOHTTP1
import NIOPosix
import SwitchyardCore

extension UpstreamAdapters {
    /// Sends one request to `backend` the way the request path does, and collects the whole answer
    /// (`switchyard test-backend`). Gives up after the request timeout.
    package static func sendOnce(
        _ body: JSONValue, endpoint: Endpoint, to backend: EffectiveConfiguration.Backend, settings: GatewaySettings
    ) async throws -> (status: Int, body: ByteBuffer) {
        let group = MultiThreadedEventLoopGroup.singleton
        let loop = group.next()
        let client = UpstreamClient(
            group: group,
            settings: UpstreamPoolSettings(maxConnectionsPerOrigin: 1, connectTimeout: .milliseconds(Int64(settings.connectTimeoutSeconds * 1000))))
        let adapters = UpstreamAdapters(client: client, mock: MockUpstream())
        var bytes = ByteBuffer()
        bytes.writeBytes(body.jsonBytes)
        let request = OutgoingRequest(
            endpoint: endpoint, body: bytes, stream: false, requestID: RequestIdentifier.makeTimeOrdered(), forwardedHeaders: [])
        let promise = loop.makePromise(of: (status: Int, body: ByteBuffer).self)
        let timeout = ClientExchange.timeAmount(seconds: settings.firstByteTimeout(for: backend.provider.spec))
        loop.execute {
            let collector = AnswerCollector(promise: promise)
            let timer = loop.assumeIsolated().scheduleTask(in: timeout) {
                collector.attempt?.cancel()
                promise.fail(GatewayError.upstreamTimeout())
            }
            promise.futureResult.whenComplete { _ in timer.cancel() }
            do {
                collector.attempt = try adapters.start(request, to: backend, settings: settings, on: loop, handler: collector)
            } catch {
                promise.fail(error)
            }
        }
        defer { Task { await client.shutdown() } }
        return try await promise.futureResult.get()
    }
}

/// Collects one whole answer for `sendOnce`.
private final class AnswerCollector: UpstreamResponseHandler {
    let promise: EventLoopPromise<(status: Int, body: ByteBuffer)>
    var attempt: (any UpstreamAttempt)?
    private var status = 0
    private var body = ByteBuffer()

    init(promise: EventLoopPromise<(status: Int, body: ByteBuffer)>) {
        self.promise = promise
    }

    func upstreamHead(status: Int, headers: HTTPHeaders) { self.status = status }

    func upstreamBody(_ buffer: ByteBuffer) {
        var buffer = buffer
        body.writeBuffer(&buffer)
    }

    func upstreamReadComplete() {}

    func upstreamEnd() {
        attempt = nil
        promise.succeed((status, body))
    }

    func upstreamFailed(_ failure: UpstreamFailure) {
        attempt = nil
        promise.fail(ClientExchange.gatewayError(for: failure))
    }
}
