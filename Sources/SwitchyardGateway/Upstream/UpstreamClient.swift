import NIOCore
import NIOSSL
import Synchronization

/// The gateway's HTTP/1.1 client for the request path: one set of keep-alive pools per event loop,
/// so a request leaves on the loop its client connection lives on (no thread hop, no task).
package final class UpstreamClient: Sendable {
    /// Pools of one event loop; only ever touched on that loop.
    private final class LoopPools: @unchecked Sendable {
        // Invariant: read and written only on `loop`.
        let loop: any EventLoop
        var pools: [UpstreamOrigin: UpstreamPool] = [:]
        /// Parsed base URLs, so a provider's URL is read once per loop, not once per request.
        var origins: [String: UpstreamOrigin] = [:]

        init(loop: any EventLoop) {
            self.loop = loop
        }
    }

    private let loops: [ObjectIdentifier: LoopPools]
    private let settings: UpstreamPoolSettings
    private let tls: NIOSSLContext?

    package init(group: any EventLoopGroup, settings: UpstreamPoolSettings) {
        var loops: [ObjectIdentifier: LoopPools] = [:]
        for loop in group.makeIterator() {
            loops[ObjectIdentifier(loop)] = LoopPools(loop: loop)
        }
        self.loops = loops
        self.settings = settings
        var configuration = TLSConfiguration.makeClientConfiguration()
        if !settings.additionalTrustRootsPEM.isEmpty {
            let certificates = settings.additionalTrustRootsPEM.flatMap { (try? NIOSSLCertificate.fromPEMBytes(Array($0.utf8))) ?? [] }
            configuration.additionalTrustRoots = [.certificates(certificates)]
        }
        tls = try? NIOSSLContext(configuration: configuration)
    }

    /// The origin of a base URL, parsed once per loop.
    func origin(of baseURL: String, on loop: any EventLoop) -> UpstreamOrigin? {
        guard let pools = loops[ObjectIdentifier(loop)] else { return UpstreamOrigin(baseURL: baseURL) }
        if let origin = pools.origins[baseURL] { return origin }
        guard let origin = UpstreamOrigin(baseURL: baseURL) else { return nil }
        pools.origins[baseURL] = origin
        return origin
    }

    /// Starts a request to `origin` from `loop`; the answer reaches `handler` on that loop.
    func call(_ request: UpstreamRequestHead, to origin: UpstreamOrigin, on loop: any EventLoop, handler: any UpstreamResponseHandler)
        -> UpstreamCall?
    {
        let pool = self.pool(for: origin, on: loop)
        guard !origin.usesTLS || tls != nil else { return nil }
        let call = UpstreamCall(request: request, pool: pool, handler: handler)
        call.start()
        return call
    }

    func pool(for origin: UpstreamOrigin, on loop: any EventLoop) -> UpstreamPool {
        guard let pools = loops[ObjectIdentifier(loop)] else {
            // A loop outside the group (tests): a pool of its own.
            return UpstreamPool(origin: origin, loop: loop, settings: settings, tls: origin.usesTLS ? tls : nil)
        }
        if let pool = pools.pools[origin] { return pool }
        let pool = UpstreamPool(origin: origin, loop: loop, settings: settings, tls: origin.usesTLS ? tls : nil)
        pools.pools[origin] = pool
        return pool
    }

    /// Open and idle connections on every loop (for tests and `/metrics`).
    package func connectionCounts() async -> (open: Int, idle: Int) {
        var open = 0
        var idle = 0
        for pools in loops.values {
            let counts = try? await pools.loop.submit {
                pools.pools.values.reduce((0, 0)) { ($0.0 + $1.openConnections, $0.1 + $1.idleConnections) }
            }.get()
            open += counts?.0 ?? 0
            idle += counts?.1 ?? 0
        }
        return (open, idle)
    }

    /// Closes the idle connections of every loop.
    package func shutdown() async {
        for pools in loops.values {
            try? await pools.loop.submit { for pool in pools.pools.values { pool.closeAll() } }.get()
        }
    }
}
