import ArgumentParser
import SwitchyardServer

struct Backup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a consistent copy of the database while the gateway runs, and check it.")

    @Option(help: "The database file.")
    var database: String?

    @Option(help: "Take the database path from this seed file's [server] database.")
    var config: String?

    @Argument(help: "Where to write the copy (must not exist).")
    var destination: String

    func run() async throws {
        print(try await reportingFailures { try await DatabaseBackup.copy(database: database, config: config, to: destination) })
    }
}
