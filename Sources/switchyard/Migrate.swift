import ArgumentParser
import Foundation
import Logging
import SwitchyardServer

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Copy a SQLite database into an empty PostgreSQL database, for several instances (stop the gateway first).")

    @Option(help: "The SQLite database file.")
    var from: String

    @Option(help: "postgres://USER@HOST:PORT/DATABASE (password from the URL or PGPASSWORD).")
    var to: String

    func run() async throws {
        let lines = try await reportingFailures {
            try await DatabaseMigration.copy(
                from: from, to: to, environment: ProcessInfo.processInfo.environment, logger: Logger(label: "switchyard"))
        }
        lines.forEach { print($0) }
    }
}
