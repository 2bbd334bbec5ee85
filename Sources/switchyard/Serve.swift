import ArgumentParser
import Foundation
import Logging
import Metrics
import NIOCore
import NIOPosix
import Prometheus
import SwitchyardCore
import SwitchyardServer
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
        let address: HostAndPort
        do {
            address = try HostAndPort(parsing: listen ?? seed.server.listen)
        } catch {
            throw ValidationError("--listen: \(error.reason)")
        }
        // Before anything makes a swift-metrics handle: one made earlier would report nowhere.
        let metricsRegistry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: metricsRegistry))
        let server = GatewayServer(
            seed: seed, seedPath: seedPath, address: address,
            databasePath: database ?? GatewayServer.databasePath(seed.server.database, relativeTo: seedPath),
            environment: ProcessInfo.processInfo.environment, metricsRegistry: metricsRegistry)
        do {
            try await server.run(logger: logger)
        } catch let error as DatabaseOpenError {
            // Which path, why and what to do; no stack trace.
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
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

enum LogFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json
}
