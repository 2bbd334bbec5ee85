import Foundation
import Hummingbird
import Logging
import Prometheus
import ServiceLifecycle
import SwitchyardCore
import SwitchyardGateway
import SwitchyardPostgres
import SwitchyardStore

/// What `switchyard serve` assembles, as a library the tests run too: the database claimed and
/// opened, the seed applied, the admin token settled, the event writer, the gateway built and run
/// until graceful shutdown (a signal, or the calling task cancelled).
package struct GatewayServer: Sendable {
    /// The validated seed, and the file it came from (`nil`: the built-in example).
    package var seed: Seed
    package var seedPath: String?
    package var address: HostAndPort
    package var databasePath: String
    package var environment: [String: String]
    /// Where every metric is registered: what `/metrics` renders.
    package var metricsRegistry: PrometheusCollectorRegistry

    package init(
        seed: Seed, seedPath: String?, address: HostAndPort, databasePath: String, environment: [String: String],
        metricsRegistry: PrometheusCollectorRegistry
    ) {
        self.seed = seed
        self.seedPath = seedPath
        self.address = address
        self.databasePath = databasePath
        self.environment = environment
        self.metricsRegistry = metricsRegistry
    }

    /// The database path `[server] database` names: relative to the seed file's folder (a
    /// PostgreSQL URL as written).
    package static func databasePath(_ path: String, relativeTo seedPath: String?) -> String {
        guard !path.hasPrefix("/"), !PostgresLocation.isURL(path), let seedPath else { return path }
        let directory = URL(fileURLWithPath: seedPath).deletingLastPathComponent().path
        return directory == "." ? path : "\(directory)/\(path)"
    }

    /// Serves until graceful shutdown. `onRunning` gets the bound port; the banner is printed
    /// when `printsBanner` is set. Throws `DatabaseOpenError` when the database cannot be claimed.
    package func run(logger: Logger, printsBanner: Bool = true, onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        let database = try await ServerDatabase.open(databasePath, password: seed.server.databasePassword, environment: environment, logger: logger)
        let store = database.configuration
        let report = try await store.applySeed(seed.configuration)
        logger.info(
            "seed applied",
            metadata: [
                "seed.path": "\(seedPath ?? "built-in example")", "seed.created": "\(report.created.count)",
                "seed.updated": "\(report.updated.count)", "seed.disabled": "\(report.disabled.count)",
                "seed.unchanged": "\(report.unchanged.count)",
            ])
        let stored = try await store.loadConfiguration()
        let (adminTokens, adminTokenNotice) = try await Self.adminTokens(seed: seed, store: database, environment: environment)

        let (stores, writer) = database.stores(registry: metricsRegistry, logger: logger)
        let banner = Banner(
            seed: seed, configuration: EffectiveConfiguration(stored, environment: environment), adminTokenNotice: adminTokenNotice,
            host: address.host, servesBuiltInExample: seedPath == nil)
        var options = GatewayOptions(server: seed.server, host: address.host, port: address.port, configuration: stored, adminTokens: adminTokens)
        options.databasePath = database.displayName
        options.telemetry = seed.telemetry
        options.seed = SeedStatus(
            path: seedPath, appliedHash: seedPath.flatMap { FileManager.default.contents(atPath: $0) }.map { ContentHash.sha256Hex(Array($0)) },
            appliedAt: Date().timeIntervalSince1970, changed: report.created + report.updated + report.disabled)
        let app = try await buildApplication(
            options: options,
            stores: stores,
            environment: environment,
            seedChangedModels: (report.created + report.updated).filter { $0.hasPrefix("model:") }.map { String($0.dropFirst(6)) },
            metricsRegistry: metricsRegistry,
            services: [
                writer,
                MemoryGiveBack(
                    activity: { [gauges = options.gauges] in (gauges.startedExchanges, gauges.liveExchanges) },
                    releaseCaches: { database.releaseMemory() }, logger: logger),
            ], logger: logger,
            onServerRunning: { port in
                if printsBanner { banner.print(port: port) }
                await onRunning(port)
            })
        try await app.runService()
        try database.close()
    }

    /// The configured admin token, else `SWITCHYARD_ADMIN_TOKEN`, else the one generated at first
    /// start (stored hashed), generating it now if there is none. Returns the accepted digests and
    /// what the banner says about the token.
    static func adminTokens(seed: Seed, store: ServerDatabase, environment: [String: String]) async throws -> ([TokenDigest], String) {
        if let configured = seed.server.adminToken, let token = configured.resolve(in: environment) {
            return ([TokenDigest(token: token)], "admin token: as configured in [server] admin_token (\(configured))")
        }
        if let token = environment["SWITCHYARD_ADMIN_TOKEN"], !token.isEmpty {
            return ([TokenDigest(token: token)], "admin token: from SWITCHYARD_ADMIN_TOKEN")
        }
        if let digest = try await store.adminTokenDigest(named: "generated") {
            return ([digest], "admin token: generated at first start and shown then (stored hashed); set SWITCHYARD_ADMIN_TOKEN to choose one")
        }
        let token = "sya-" + RequestIdentifier.make() + RequestIdentifier.make()
        let digest = TokenDigest(token: token)
        try await store.storeAdminToken(named: "generated", digest: digest)
        return ([digest], "admin token (generated now, shown only once): \(token)")
    }
}
