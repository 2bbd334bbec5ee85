import ArgumentParser
import SwitchyardServer

struct Usage: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print requests, tokens and cost from the database.")

    @Option(help: "The database: a SQLite file, or a postgres:// URL (the requests of every instance on it).")
    var database = "switchyard.db"

    @Option(help: "From this time: seconds since 1970 or an ISO 8601 date or time.")
    var since: String?

    @Option(help: "user, model, version, day or endpoint.")
    var groupBy = "user"

    func run() async throws {
        try await reportingFailures { try await UsageReport.lines(database: database, since: since, groupBy: groupBy) }.forEach { print($0) }
    }
}
