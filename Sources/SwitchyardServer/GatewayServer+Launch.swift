import Foundation
import Logging
import NIOCore
import NIOPosix
import Prometheus
import SwitchyardCore
import SwitchyardGateway
import SwitchyardStore

extension GatewayServer {
    /// What `switchyard serve` does with its options: the process set up (executor, logging,
    /// metrics), the seed read (the built-in example when no file is named and none is here), then
    /// the gateway run until a signal. Throws `CommandFailure` for anything the operator must fix.
    package static func launch(
        config: String?, listen: String?, database: String?, logLevel: Logger.Level, logFormat: LogFormat,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) async throws {
        ProcessMemory.returnLargeBlocksWhenFreed(environment: environment)
        if environment["SWITCHYARD_NIO_EXECUTOR"] != "0" {
            // Run Swift concurrency on NIO's event loop threads: requests stop hopping between the
            // cooperative pool and the event loops (about 10 % less CPU per request, see docs/decisions.md).
            _ = NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
        }
        logFormat.bootstrap(level: logLevel)
        let logger = Logger(label: "switchyard")

        let (seed, seedPath) = try loadSeed(config, logger: logger)
        let address: HostAndPort
        do {
            address = try HostAndPort(parsing: listen ?? seed.server.listen)
        } catch {
            throw CommandFailure("--listen: \(error.reason)")
        }
        let metricsRegistry = PrometheusCollectorRegistry()
        let server = GatewayServer(
            seed: seed, seedPath: seedPath, address: address,
            databasePath: database ?? environment["SWITCHYARD_DATABASE_URL"].flatMap { $0.isEmpty ? nil : $0 }
                ?? databasePath(seed.server.database, relativeTo: seedPath),
            environment: environment, metricsRegistry: metricsRegistry)
        do {
            try await server.run(logger: logger)
        } catch let error as DatabaseOpenError {
            // Which path, why and what to do; no stack trace.
            throw CommandFailure("switchyard: \(error)")
        }
    }

    private static func loadSeed(_ config: String?, logger: Logger) throws -> (Seed, String?) {
        let path = config ?? "switchyard.toml"
        if config == nil && !FileManager.default.fileExists(atPath: path) {
            logger.notice("no switchyard.toml here: serving the built-in example seed (write it out with `switchyard init`)")
            return (try SeedFile.parse(SeedFile.exampleText, path: "built-in example"), nil)
        }
        do {
            return (try SeedFile.load(path: path), path)
        } catch {
            throw CommandFailure(error.description)
        }
    }
}
