import AsyncHTTPClient
import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOPosix
import Prometheus
import ServiceLifecycle
import SwitchyardCore

/// What the gateway needs from its host: where to listen, its limits, and its collaborators.
package struct GatewayOptions: Sendable {
    package var host: String
    package var port: Int
    package var maxBodyBytes: Int
    package var connectTimeoutSeconds: Double
    /// Longest silence from an upstream (before its answer or between chunks) before the request fails.
    package var readTimeoutSeconds: Double
    /// Digests of the tokens the admin API accepts.
    package var adminTokens: [TokenDigest] = []
    /// The seed file and its first application; `nil` path when serving the built-in example.
    package var seed = SeedStatus(path: nil)
    /// Shown by `GET /api/system`.
    package var databasePath: String?
    /// Client connection deadlines and caps (the body limit is `maxBodyBytes`).
    package var connections = ConnectionLimits()
    /// Upstream connections per origin per event loop.
    package var upstreamPoolSize = 1024
    /// Extra roots to trust for upstream TLS, beside the system's (tests).
    package var upstreamTrustRootsPEM: [String] = []
    /// Exchanges in flight and timers armed on the request path (`/metrics`; tests look for leaks).
    package var gauges = RequestPathGauges()
    /// Where traces go; no export without a traces URL.
    package var telemetry = TelemetrySpec()

    package init(
        host: String = "127.0.0.1", port: Int = 8080, maxBodyBytes: Int = ServerSpec.defaultMaxBodyBytes,
        connectTimeoutSeconds: Double = 5, readTimeoutSeconds: Double = 30
    ) {
        self.host = host
        self.port = port
        self.maxBodyBytes = maxBodyBytes
        self.connectTimeoutSeconds = connectTimeoutSeconds
        self.readTimeoutSeconds = readTimeoutSeconds
    }

    /// Timeouts that fit a configuration. The upstream client's read timeout also runs while waiting
    /// for the response head, so it is the idle timeout or the longest first-byte timeout, whichever
    /// is longer; the relay checks each attempt's own deadline.
    package init(host: String, port: Int, maxBodyBytes: Int, configuration: ConfigurationSpec, adminTokens: [TokenDigest]) {
        let settings = configuration.settings
        let firstByte = configuration.providers.map { settings.firstByteTimeout(for: $0) }.reduce(
            settings.firstByteTimeoutSeconds ?? settings.requestTimeoutSeconds, max)
        self.init(
            host: host, port: port, maxBodyBytes: maxBodyBytes, connectTimeoutSeconds: settings.connectTimeoutSeconds,
            readTimeoutSeconds: max(settings.idleTimeoutSeconds, firstByte))
        self.adminTokens = adminTokens
    }

    /// Options with the `[server]` table's connection limits and pool size.
    package init(server: ServerSpec, host: String, port: Int, configuration: ConfigurationSpec, adminTokens: [TokenDigest]) {
        self.init(host: host, port: port, maxBodyBytes: server.maxBodyBytes, configuration: configuration, adminTokens: adminTokens)
        connections = ConnectionLimits(
            maxConnections: server.maxConnections, reservedConnections: server.reservedConnections,
            headerTimeout: ClientExchange.timeAmount(seconds: server.headerTimeoutSeconds),
            idleTimeout: ClientExchange.timeAmount(seconds: server.keepAliveTimeoutSeconds),
            bodyTimeout: ClientExchange.timeAmount(seconds: server.bodyTimeoutSeconds), maxBodyBytes: server.maxBodyBytes,
            maxEventBytes: server.maxStreamEventBytes)
        upstreamPoolSize = server.upstreamPoolSize
    }
}

/// Where the gateway keeps what outlives a request: SQLite in the executable, memory in tests.
package struct GatewayStores: Sendable {
    package var configuration: any ConfigurationRepository
    package var releases: any ReleaseRepository
    package var sessions: any SessionRepository
    package var outcomes: any OutcomeSink
    package var usage: any UsageRepository
    package var experiments: any ExperimentRepository
    package var catalog: any ModelCatalogRepository
    package var stats: any StatsRepository
    package var shadows: any ShadowRepository
    /// Changes other instances make to a shared database; `nil` when this process owns its database.
    package var changes: (any ConfigurationChangeFeed)?
    /// Which instance drives rollouts and schedules, and the outcomes of all instances it judges;
    /// `nil`: this process alone, on its own recent outcomes.
    package var election: (any ControllerElection)?
    package var windows: (any OutcomeWindowRepository)?
    /// Conversation bindings other instances on a shared database make.
    package var sessionChanges: (any SessionChangeFeed)?
    /// Per-user rate limits and budgets decided across the instances on a shared database.
    package var limits: (any SharedLimits)?

    package init(
        configuration: any ConfigurationRepository, releases: any ReleaseRepository, sessions: any SessionRepository, outcomes: any OutcomeSink,
        usage: any UsageRepository, experiments: any ExperimentRepository, catalog: any ModelCatalogRepository = InMemoryModelCatalog(),
        stats: any StatsRepository, shadows: any ShadowRepository, changes: (any ConfigurationChangeFeed)? = nil,
        election: (any ControllerElection)? = nil, windows: (any OutcomeWindowRepository)? = nil,
        sessionChanges: (any SessionChangeFeed)? = nil, limits: (any SharedLimits)? = nil
    ) {
        self.sessionChanges = sessionChanges
        self.limits = limits
        self.changes = changes
        self.election = election
        self.windows = windows
        self.configuration = configuration
        self.releases = releases
        self.sessions = sessions
        self.outcomes = outcomes
        self.usage = usage
        self.experiments = experiments
        self.catalog = catalog
        self.stats = stats
        self.shadows = shadows
    }
}

/// The composition root: builds the HTTP application the executable runs and the tests drive.
///
/// - Parameters:
///   - environment: resolves `env:` references in the stored configuration.
///   - services: long-running jobs started before the server and stopped after it (e.g. the event writer).
///   - onServerRunning: called with the bound port once the server accepts connections.
package func buildApplication(
    options: GatewayOptions, stores: GatewayStores, environment: [String: String], seedChangedModels: [String] = [],
    metricsRegistry: PrometheusCollectorRegistry = PrometheusCollectorRegistry(), services: [any Service] = [], logger: Logger,
    onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
) async throws -> some ApplicationProtocol {
    let configuration = ConfigurationHolder(EffectiveConfiguration(try await stores.configuration.loadConfiguration(), environment: environment))
    let writer = ConfigurationWriter(
        holder: configuration, repository: stores.configuration, releases: stores.releases, environment: environment, logger: logger)
    try await writer.reload()
    await writer.startSeedRollouts(models: seedChangedModels)
    let metrics = GatewayMetrics(registry: metricsRegistry, forwardingTo: AccessLog(logger: logger, forwardingTo: stores.outcomes))
    let budgets = Budgets(forwardingTo: metrics)
    try await budgets.load(from: stores.usage)
    let rateLimits = RateLimits(forwardingTo: budgets, shared: stores.limits, logger: logger)
    let recentOutcomes = RecentOutcomes(forwardingTo: rateLimits)
    let auth = AdminAuthenticator(tokens: options.adminTokens)
    let eventLoopGroup = MultiThreadedEventLoopGroup.singleton
    let client = HTTPClient(
        eventLoopGroup: eventLoopGroup, configuration: upstreamClientConfiguration(options),
        backgroundActivityLogger: logger)
    let health = HealthRegistry(settings: configuration.current.settings, logger: logger)
    let sessions = SessionTable(repository: stores.sessions, logger: logger)
    try await sessions.restore()
    let upstream = UpstreamClient(
        group: eventLoopGroup,
        settings: UpstreamPoolSettings(
            maxConnectionsPerOrigin: options.upstreamPoolSize, connectTimeout: .milliseconds(Int64(options.connectTimeoutSeconds * 1000)),
            additionalTrustRootsPEM: options.upstreamTrustRootsPEM))
    let liveRouter = LiveRouter(health: health)
    var limits = options.connections
    limits.maxBodyBytes = options.maxBodyBytes
    let traceExporter = options.telemetry.tracesURL.map { url in
        TraceExporter(
            telemetry: options.telemetry, tracesURL: url, environment: environment, client: client, registry: metricsRegistry, logger: logger,
            forwardingTo: recentOutcomes)
    }
    let clientAPI = ClientAPIServices(
        configuration: configuration, routing: liveRouter, health: health, sessions: sessions, rateLimits: rateLimits, budgets: budgets,
        sink: traceExporter ?? recentOutcomes, exportsTraces: traceExporter != nil,
        adapters: UpstreamAdapters(client: upstream, mock: MockUpstream(), maxEventBytes: limits.maxEventBytes), limits: limits,
        gauges: options.gauges, registry: metricsRegistry, logger: logger)
    let gate = ConnectionGate(
        limit: limits.effectiveMaxConnections(openFileLimit: ConnectionLimits.raiseOpenFileLimit()), reserve: limits.reservedConnections,
        registry: metricsRegistry, logger: logger)

    let router = Router(context: GatewayContext.self)
    router.add(middleware: RequestIDMiddleware())
    router.add(middleware: AdminAuthMiddleware(auth: auth))
    router.get("/health") { _, _ in
        Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: #"{"status":"ok"}"#)))
    }
    router.get("/metrics") { _, _ -> Response in
        let text = metrics.scrape(
            configuration: configuration.current, health: health, rollouts: await writer.latestRollouts(),
            connections: (open: gate.openConnections, limit: gate.limit), requestsInFlight: options.gauges.liveExchanges,
            budgets: budgets.standing(of: configuration.current.usersByDigest.values))
        return Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: text)))
    }
    router.get("/ready") { _, _ -> Response in
        let models = configuration.current.modelNames.count
        let ready = models > 0
        let body = ByteBuffer(string: #"{"status":"\#(ready ? "ready" : "no models configured")","models":\#(models)}"#)
        return Response(
            status: ready ? .ok : .serviceUnavailable, headers: [.contentType: "application/json"], body: .init(byteBuffer: body))
    }
    RoutingAdminController(configuration: configuration, client: liveRouter, health: health, sessions: sessions).addRoutes(to: router)
    ModelAdminController(writer: writer).addRoutes(to: router)
    RolloutAdminController(writer: writer).addRoutes(to: router)
    ShadowAdminController(
        writer: writer, configuration: configuration, recorded: stores.shadows, traffic: clientAPI.shadows, outcomes: stores.outcomes
    ).addRoutes(to: router)
    UserAdminController(writer: writer).addRoutes(to: router)
    UsageAdminController(usage: stores.usage).addRoutes(to: router)
    ExperimentAdminController(writer: writer, recorded: stores.experiments, outcomes: stores.outcomes).addRoutes(to: router)
    let prober = HealthProber(configuration: configuration, health: health, client: client, logger: logger)
    let discovery = ModelDiscovery(configuration: configuration, catalog: stores.catalog, client: client, logger: logger)
    let listening = ListeningAddress()
    ProviderAdminController(writer: writer, discovery: discovery, environment: environment, listening: listening).addRoutes(to: router)
    let reloader = SeedReloader(status: options.seed, repository: stores.configuration, writer: writer, environment: environment, logger: logger)
    ConfigurationAdminController(writer: writer, reloader: reloader).addRoutes(to: router)
    SystemAdminController(
        writer: writer, stats: stores.stats, databasePath: options.databasePath, startedAt: Date().timeIntervalSince1970, election: stores.election
    )
    .addRoutes(to: router)
    AdminPageController().addRoutes(to: router)

    return Application(
        router: router,
        server: HTTPServerBuilder { responder in GatewayServerChannel(responder: responder, services: clientAPI, gate: gate) },
        configuration: .init(address: .hostname(options.host, port: options.port), serverName: nil),
        services: services + [
            sessions, prober, discovery, reloader,
            RolloutController(writer: writer, outcomes: recentOutcomes, election: stores.election, windows: stores.windows, logger: logger),
            HTTPClientService(client: client), UpstreamClientService(client: upstream),
        ] + (traceExporter.map { [$0] } ?? [])
            + (stores.changes.map { [ConfigurationFollower(feed: $0, writer: writer, logger: logger)] } ?? [])
            + (stores.election.map { [ControllerCampaign(election: $0)] } ?? [])
            + (stores.sessionChanges.map { [SessionFollower(feed: $0, sessions: sessions)] } ?? []),
        onServerRunning: { channel in
            let port = channel.localAddress?.port ?? options.port
            listening.set(host: options.host, port: port)
            await onServerRunning(port)
        },
        eventLoopGroupProvider: .shared(eventLoopGroup),
        logger: logger)
}

/// Pooled keep-alive connections, many per host, and no silent connect retries: a refused upstream
/// must fail fast (DESIGN §10).
package func upstreamClientConfiguration(_ options: GatewayOptions) -> HTTPClient.Configuration {
    var configuration = HTTPClient.Configuration()
    configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 256
    configuration.connectionPool.retryConnectionEstablishment = false
    configuration.connectionPool.idleTimeout = .seconds(60)
    configuration.timeout.connect = .milliseconds(Int64(options.connectTimeoutSeconds * 1000))
    configuration.timeout.read = .milliseconds(Int64(options.readTimeoutSeconds * 1000))
    configuration.decompression = .disabled
    configuration.redirectConfiguration = .disallow
    return configuration
}
