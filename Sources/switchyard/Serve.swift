import ArgumentParser
import Foundation
import Hummingbird
import Logging
import Metrics
import NIOCore
import NIOPosix
import Prometheus
import ServiceLifecycle
import SwitchyardCore
import SwitchyardGateway
import SwitchyardStore

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the gateway (the default command).")

    @Option(help: "Seed TOML file. When the default file does not exist, the built-in example seed is served.")
    var config: String?

    @Option(help: "HOST:PORT to listen on (overrides [server] listen).")
    var listen: String?

    @Option(help: "SQLite database file (overrides [server] database).")
    var database: String?

    @Option(help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: Logger.Level = .info

    @Option(help: "text, or json (one JSON object a line).")
    var logFormat: LogFormat = .text

    func run() async throws {
        if ProcessInfo.processInfo.environment["SWITCHYARD_NIO_EXECUTOR"] != "0" {
            // Run Swift concurrency on NIO's event loop threads: requests stop hopping between the
            // cooperative pool and the event loops (about 10 % less CPU per request, see docs/decisions.md).
            _ = NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
        }
        let (logLevel, logFormat) = (self.logLevel, self.logFormat)
        LoggingSystem.bootstrap { label in
            switch logFormat {
            case .json:
                return JSONLogHandler(label: label, level: logLevel)
            case .text:
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = logLevel
                return handler
            }
        }
        let logger = Logger(label: "switchyard")

        let (seed, seedPath) = try loadSeed(logger: logger)
        let listenText = listen ?? seed.server.listen
        let address: HostAndPort
        do {
            address = try HostAndPort(parsing: listenText)
        } catch {
            throw ValidationError("--listen: \(error.reason)")
        }
        let databasePath = database ?? Self.resolve(seed.server.database, relativeTo: seedPath)

        let (store, ownerLock) = try Self.openDatabase(databasePath)
        let report = try await store.applySeed(seed.configuration)
        logger.info(
            "seed applied",
            metadata: [
                "seed.path": "\(seedPath ?? "built-in example")", "seed.created": "\(report.created.count)",
                "seed.updated": "\(report.updated.count)", "seed.disabled": "\(report.disabled.count)",
                "seed.unchanged": "\(report.unchanged.count)",
            ])
        let environment = ProcessInfo.processInfo.environment
        let stored = try await store.loadConfiguration()
        let effective = EffectiveConfiguration(stored, environment: environment)
        let (adminTokens, adminTokenNotice) = try await ensureAdminToken(seed: seed, store: store, environment: environment)

        // Before anything makes a swift-metrics handle: one made earlier would report nowhere.
        let metricsRegistry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: metricsRegistry))
        let writer = EventWriter(store: store, logger: logger)
        let banner = Banner(
            seed: seed, configuration: effective, adminTokenNotice: adminTokenNotice, host: address.host, servesBuiltInExample: seedPath == nil)
        var options = GatewayOptions(server: seed.server, host: address.host, port: address.port, configuration: stored, adminTokens: adminTokens)
        options.databasePath = databasePath
        options.telemetry = seed.telemetry
        options.seed = SeedStatus(
            path: seedPath, appliedHash: seedPath.flatMap { FileManager.default.contents(atPath: $0) }.map { ContentHash.sha256Hex(Array($0)) },
            appliedAt: Date().timeIntervalSince1970, changed: report.created + report.updated + report.disabled)
        let app = try await buildApplication(
            options: options,
            stores: GatewayStores(
                configuration: store, releases: store, sessions: store, outcomes: writer, usage: store, experiments: store, catalog: store,
                stats: store),
            environment: environment,
            seedChangedModels: (report.created + report.updated).filter { $0.hasPrefix("model:") }.map { String($0.dropFirst(6)) },
            metricsRegistry: metricsRegistry,
            services: [writer], logger: logger,
            onServerRunning: { port in banner.print(port: port) })
        try await app.runService()
        try store.close()
        withExtendedLifetime(ownerLock) {}
    }

    /// Claims the database file for this process and opens it; on failure says which path, why and
    /// what to do, and exits with status 1.
    static func openDatabase(_ path: String) throws -> (SQLiteStore, DatabaseOwnerLock) {
        do {
            let lock = try DatabaseOwnerLock(databasePath: path)
            return (try SQLiteStore.opening(path), lock)
        } catch {
            FileHandle.standardError.write(Data("switchyard: \(error)\n".utf8))
            throw ExitCode.failure
        }
    }

    private func loadSeed(logger: Logger) throws -> (Seed, String?) {
        let path = config ?? "switchyard.toml"
        if config == nil && !FileManager.default.fileExists(atPath: path) {
            logger.notice("no switchyard.toml here: serving the built-in example seed (write it out with `switchyard init`)")
            return (try SeedFile.parse(SeedFile.exampleText, path: "built-in example"), nil)
        }
        do {
            return (try SeedFile.load(path: path), path)
        } catch {
            FileHandle.standardError.write(Data("\(error)\n".utf8))
            throw ExitCode.failure
        }
    }

    /// Uses the configured admin token, else `SWITCHYARD_ADMIN_TOKEN`, else the one generated at first
    /// start (stored hashed), generating it now if there is none. Returns the accepted digests and
    /// what the banner says about the token.
    private func ensureAdminToken(
        seed: Seed, store: SQLiteStore, environment: [String: String]
    ) async throws -> ([TokenDigest], String) {
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

    static func resolve(_ path: String, relativeTo seedPath: String?) -> String {
        guard !path.hasPrefix("/"), let seedPath else { return path }
        let directory = URL(fileURLWithPath: seedPath).deletingLastPathComponent().path
        return directory == "." ? path : "\(directory)/\(path)"
    }
}

/// What the gateway prints once it listens: the address, the admin token and a request to paste.
/// Standard output lands in the journal under systemd, so a real user's token is never printed: only
/// the built-in example's demo token, and otherwise a placeholder for the user's own.
struct Banner: Sendable {
    var seed: Seed
    var configuration: EffectiveConfiguration
    var adminTokenNotice: String
    var host: String
    var servesBuiltInExample: Bool

    func print(port: Int) {
        let shownHost = host == "0.0.0.0" || host == "::" ? "127.0.0.1" : host
        let base = "http://\(shownHost):\(port)"
        var lines = ["Switchyard listening on \(base)", adminTokenNotice]
        let sample = configuration.usersByDigest.values.sorted { $0.id < $1.id }.lazy.compactMap { user -> (String, String)? in
            guard let token = seed.userTokens[user.id],
                let model = configuration.modelNames.first(where: user.mayUse(model:))
            else { return nil }
            return (token, model)
        }.first
        let model = sample?.1 ?? configuration.modelNames.first
        if let model {
            let token = servesBuiltInExample ? sample?.0 ?? "<your user token>" : "<your user token>"
            lines.append(servesBuiltInExample ? "try it (with the example's demo token):" : "try it with one of your users' tokens:")
            lines.append(
                "  curl -s \(base)/v1/chat/completions -H 'Authorization: Bearer \(token)' -H 'Content-Type: application/json' \\\n"
                    + "    -d '{\"model\": \"\(model)\", \"messages\": [{\"role\": \"user\", \"content\": \"Hello, Switchyard!\"}]}'")
        }
        FileHandle.standardOutput.write(Data((lines.joined(separator: "\n") + "\n").utf8))
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

enum LogFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json
}
