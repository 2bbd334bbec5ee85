import Logging
import NIOCore
import Prometheus
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// How long a client may take, and how many may be connected: the defaults a production reverse
/// proxy uses, so that a slow or hostile client cannot hold the gateway.
package struct ConnectionLimits: Sendable {
    /// Open client connections; beyond it a new connection is accepted and closed at once.
    package var maxConnections: Int
    /// The last connections under the cap serve only `/health`, `/ready`, `/metrics`, the admin API
    /// and page, so that an operator can still look when the client API is saturated.
    package var reservedConnections: Int
    /// From a request's first byte to the end of its headers.
    package var headerTimeout: TimeAmount
    /// A keep-alive connection waiting for its next request.
    package var idleTimeout: TimeAmount
    /// From the end of a request's headers to the end of its body.
    package var bodyTimeout: TimeAmount
    package var maxBodyBytes: Int
    /// One upstream SSE event larger than this ends the stream with an error event.
    package var maxEventBytes: Int

    package init(
        maxConnections: Int = 10_000, reservedConnections: Int = 32, headerTimeout: TimeAmount = .seconds(15),
        idleTimeout: TimeAmount = .seconds(60), bodyTimeout: TimeAmount = .seconds(60), maxBodyBytes: Int = 10 << 20,
        maxEventBytes: Int = 1 << 20
    ) {
        self.maxConnections = maxConnections
        self.reservedConnections = reservedConnections
        self.headerTimeout = headerTimeout
        self.idleTimeout = idleTimeout
        self.bodyTimeout = bodyTimeout
        self.maxBodyBytes = maxBodyBytes
        self.maxEventBytes = maxEventBytes
    }

    /// The cap, lowered to what the process's open-file limit allows: each client connection may
    /// need an upstream connection too, and the database and listeners need a few.
    package func effectiveMaxConnections(openFileLimit: Int) -> Int {
        max(reservedConnections + 1, min(maxConnections, (openFileLimit - 64) / 2))
    }

    /// Raises the soft open-file limit to the hard one (as nginx's `worker_rlimit_nofile` and Go do)
    /// and returns it.
    package static func raiseOpenFileLimit() -> Int {
        #if canImport(Glibc)
            var limit = rlimit()
            guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1024 }
            if limit.rlim_cur < limit.rlim_max {
                var raised = limit
                raised.rlim_cur = limit.rlim_max
                if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
            }
            return limit.rlim_cur > rlim_t(Int32.max) ? Int(Int32.max) : Int(limit.rlim_cur)
        #else
            return 1024
        #endif
    }
}

/// Counts open client connections against the cap and its reserve.
package final class ConnectionGate: Sendable {
    package enum Admission {
        case serve
        /// Only the operator's paths (health, metrics, admin): the client API is at its share.
        case reserveOnly
        case refuse
    }

    private let open = Atomic<Int>(0)
    private let sawConnection = Atomic<Bool>(false)
    private let refusedSinceLog = Atomic<Int>(0)
    private let lastLogSeconds = Atomic<Int>(0)
    let limit: Int
    let reserve: Int
    private let logger: Logger
    private let refusedCounter: Counter

    package init(limit: Int, reserve: Int, registry: PrometheusCollectorRegistry, logger: Logger) {
        self.limit = limit
        self.reserve = min(reserve, max(limit - 1, 0))
        self.logger = logger
        refusedCounter = registry.makeCounter(
            descriptor: MetricNameDescriptor(
                metricName: "switchyard_connections_refused", unitName: "total",
                helpText: "Client connections closed at once: the connection limit was reached."))
    }

    package var openConnections: Int { open.load(ordering: .relaxed) }

    /// Counts a new connection in; `.refuse` ones are not counted (close them at once).
    func admit() -> Admission {
        let now = open.wrappingAdd(1, ordering: .relaxed).newValue
        if now > limit {
            open.wrappingSubtract(1, ordering: .relaxed)
            refused()
            return .refuse
        }
        return now > limit - reserve ? .reserveOnly : .serve
    }

    /// True once: for the first connection's one-time server settings.
    func isFirstConnection() -> Bool {
        !sawConnection.exchange(true, ordering: .relaxed)
    }

    func closed() {
        open.wrappingSubtract(1, ordering: .relaxed)
    }

    /// Counted every time, logged at most once per ten seconds with how many since.
    private func refused() {
        refusedCounter.increment()
        let count = refusedSinceLog.wrappingAdd(1, ordering: .relaxed).newValue
        let seconds = Int(NIODeadline.now().uptimeNanoseconds / 1_000_000_000)
        let last = lastLogSeconds.load(ordering: .relaxed)
        guard seconds - last >= 10 || last == 0,
            lastLogSeconds.compareExchange(expected: last, desired: max(seconds, 1), ordering: .relaxed).exchanged
        else { return }
        refusedSinceLog.wrappingSubtract(count, ordering: .relaxed)
        logger.warning(
            "client connections refused: at the connection limit",
            metadata: ["connections.limit": .stringConvertible(limit), "connections.refused": .stringConvertible(count)])
    }
}
