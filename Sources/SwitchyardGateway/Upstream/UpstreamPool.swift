import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// Limits of the upstream connection pools.
package struct UpstreamPoolSettings: Sendable {
    /// Open connections per upstream origin per event loop; requests beyond wait for one to free up.
    package var maxConnectionsPerOrigin: Int
    package var connectTimeout: TimeAmount
    /// An idle pooled connection is closed after this long.
    package var idleTimeout: TimeAmount
    /// Extra roots to trust for upstream TLS (tests), beside the system's.
    package var additionalTrustRootsPEM: [String]

    package init(
        maxConnectionsPerOrigin: Int = 1024, connectTimeout: TimeAmount = .seconds(5), idleTimeout: TimeAmount = .seconds(60),
        additionalTrustRootsPEM: [String] = []
    ) {
        self.maxConnectionsPerOrigin = maxConnectionsPerOrigin
        self.connectTimeout = connectTimeout
        self.idleTimeout = idleTimeout
        self.additionalTrustRootsPEM = additionalTrustRootsPEM
    }
}

/// Keep-alive connections to one upstream origin, on one event loop: every use happens on that loop,
/// so requests never change threads on their way out.
final class UpstreamPool {
    let origin: UpstreamOrigin
    let loop: any EventLoop
    private let settings: UpstreamPoolSettings
    private let tls: NIOSSLContext?
    /// Most recently used last: reused first, while the oldest ones age out.
    private var idle: [UpstreamConnection] = []
    private var open = 0
    private var waiters = CircularBuffer<UpstreamCall>()
    private var sweep: Scheduled<Void>?

    init(origin: UpstreamOrigin, loop: any EventLoop, settings: UpstreamPoolSettings, tls: NIOSSLContext?) {
        self.origin = origin
        self.loop = loop
        self.settings = settings
        self.tls = tls
    }

    var openConnections: Int { open }
    var idleConnections: Int { idle.count }

    /// Hands `call` a connection: an idle one at once, a new one once connected, or the next one
    /// freed when the pool is full. `fresh` skips idle connections (a retry after a stale one).
    func acquire(for call: UpstreamCall, fresh: Bool = false) {
        let now = NIODeadline.now()
        while !fresh, let connection = idle.popLast() {
            if connection.isClosed { continue }
            if now - connection.idleSince >= settings.idleTimeout {
                connection.close()
                continue
            }
            call.connected(connection, reused: true)
            return
        }
        guard open < settings.maxConnectionsPerOrigin else {
            waiters.append(call)
            return
        }
        connect(for: call)
    }

    /// Forgets a waiting call that gave up.
    func cancelWaiting(_ call: UpstreamCall) {
        if let index = waiters.firstIndex(where: { $0 === call }) {
            waiters.remove(at: index)
        }
    }

    private func connect(for call: UpstreamCall) {
        open += 1
        let tls = self.tls
        let host = origin.host
        let bootstrap = ClientBootstrap(group: loop)
            .connectTimeout(settings.connectTimeout)
            .channelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls {
                        let serverName = host.first?.isNumber == true || host.contains(":") ? nil : host
                        try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: tls, serverHostname: serverName))
                    }
                    // Requests are written as bytes (`UpstreamRequestHead.encoded`), answers read as bytes
                    // (`UpstreamResponseParser`).
                    try channel.pipeline.syncOperations.addHandler(UpstreamConnection())
                }
            }
        bootstrap.connect(host: origin.host, port: origin.port).assumeIsolated().whenComplete { result in
            switch result {
            case .success(let channel):
                guard let connection = try? channel.pipeline.syncOperations.handler(type: UpstreamConnection.self) else {
                    channel.close(promise: nil)
                    self.connectFailed(UpstreamFailure(kind: .connect, detail: "no connection handler"), for: call)
                    return
                }
                connection.pool = self
                if connection.isClosed {
                    self.open -= 1
                    self.connectFailed(UpstreamFailure(kind: .closed, detail: "closed while connecting"), for: call)
                    return
                }
                call.connected(connection, reused: false)
            case .failure(let error):
                let kind: UpstreamFailure.Kind
                if case ChannelError.connectTimeout = error { kind = .connectTimeout } else { kind = .connect }
                self.open -= 1
                self.connectFailed(UpstreamFailure(kind: kind, detail: UpstreamConnection.describe(error)), for: call)
                self.serveWaiter()
            }
        }
    }

    private func connectFailed(_ failure: UpstreamFailure, for call: UpstreamCall) {
        call.failed(failure)
    }

    /// A connection whose answer ended and that may carry another request.
    func release(_ connection: UpstreamConnection) {
        if let waiter = waiters.popFirst() {
            waiter.connected(connection, reused: true)
            return
        }
        idle.append(connection)
        scheduleSweep()
    }

    func connectionClosed(_ connection: UpstreamConnection) {
        open -= 1
        if let index = idle.firstIndex(where: { $0 === connection }) {
            idle.remove(at: index)
        }
        serveWaiter()
    }

    private func serveWaiter() {
        guard open < settings.maxConnectionsPerOrigin, let waiter = waiters.popFirst() else { return }
        connect(for: waiter)
    }

    /// Closes connections idle longer than the idle timeout, checking again while any stay idle.
    private func scheduleSweep() {
        guard sweep == nil else { return }
        sweep = loop.assumeIsolated().scheduleTask(in: settings.idleTimeout) {
            self.sweep = nil
            let now = NIODeadline.now()
            for connection in self.idle where now - connection.idleSince >= self.settings.idleTimeout {
                connection.close()
            }
            if !self.idle.isEmpty { self.scheduleSweep() }
        }
    }

    /// Closes every connection (shutdown).
    func closeAll() {
        sweep?.cancel()
        sweep = nil
        for connection in idle { connection.close() }
        idle.removeAll()
    }
}

/// One request to an upstream over the pool: waits for a connection, sends, and passes the answer to
/// its handler. A reused connection that the upstream closed before answering is retried once on a
/// new connection (the upstream closed it while idle; the request was not seen).
final class UpstreamCall {
    private let request: UpstreamRequestHead
    private let pool: UpstreamPool
    private var handler: (any UpstreamResponseHandler)?
    private var connection: UpstreamConnection?
    private var retriedStale = false
    private var readingPaused = false
    /// The current connection served an earlier request: if it closes unanswered, it was stale.
    private var reusedConnection = false

    init(request: UpstreamRequestHead, pool: UpstreamPool, handler: any UpstreamResponseHandler) {
        self.request = request
        self.pool = pool
        self.handler = handler
    }

    func start() {
        pool.acquire(for: self)
    }

    /// The handler no longer wants the answer: the connection is closed unless the answer already ended.
    func cancel() {
        handler = nil
        if let connection {
            self.connection = nil
            connection.abandon()
        } else {
            pool.cancelWaiting(self)
        }
    }

    /// Backpressure: stop reading the upstream while the client's connection is full.
    func pauseReading() {
        guard !readingPaused else { return }
        readingPaused = true
        connection?.setReading(false)
    }

    func resumeReading() {
        guard readingPaused else { return }
        readingPaused = false
        connection?.setReading(true)
    }

    // MARK: From the pool and the connection

    func connected(_ connection: UpstreamConnection, reused: Bool) {
        guard handler != nil else {
            // Gave up while waiting: the connection goes back unused.
            pool.release(connection)
            return
        }
        self.connection = connection
        self.reusedConnection = reused
        connection.send(request, for: self)
        if readingPaused { connection.setReading(false) }
    }

    func head(status: Int, headers: HTTPHeaders) {
        handler?.upstreamHead(status: status, headers: headers)
    }

    func body(_ buffer: ByteBuffer) {
        handler?.upstreamBody(buffer)
    }

    func readComplete() {
        handler?.upstreamReadComplete()
    }

    func end() {
        connection = nil
        let handler = self.handler
        self.handler = nil
        handler?.upstreamEnd()
    }

    func connectionClosed(_ connection: UpstreamConnection, receivedResponse: Bool) {
        self.connection = nil
        if !receivedResponse, reusedConnection, !retriedStale, handler != nil {
            retriedStale = true
            pool.acquire(for: self, fresh: true)
            return
        }
        failed(UpstreamFailure(kind: .closed, detail: receivedResponse ? "connection closed mid-answer" : "connection closed before an answer"))
    }

    func failed(_ failure: UpstreamFailure) {
        connection = nil
        let handler = self.handler
        self.handler = nil
        handler?.upstreamFailed(failure)
    }
}
