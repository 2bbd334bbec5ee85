import ArgumentParser
import Logging
import SwitchyardServer

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the gateway (the default command).")

    @Option(help: "Seed TOML file. When the default file does not exist, the built-in example seed is served.")
    var config: String?

    @Option(help: "HOST:PORT to listen on (overrides [server] listen).")
    var listen: String?

    @Option(help: "SQLite database file, or postgres://USER@HOST:PORT/DATABASE (overrides SWITCHYARD_DATABASE_URL and [server] database).")
    var database: String?

    @Option(help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: Logger.Level = .info

    @Option(help: "text, or json (one JSON object a line).")
    var logFormat: LogFormat = .text

    func run() async throws {
        try await reportingFailures {
            try await GatewayServer.launch(config: config, listen: listen, database: database, logLevel: logLevel, logFormat: logFormat)
        }
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
extension LogFormat: ExpressibleByArgument {}
