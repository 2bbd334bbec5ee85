import ArgumentParser
import Foundation
import SwitchyardCore
import SwitchyardGateway
import SwitchyardStore

struct Usage: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print requests, tokens and cost from the database.")

    @Option(help: "The database file.")
    var database = "switchyard.db"

    @Option(help: "From this time: seconds since 1970 or an ISO 8601 date or time.")
    var since: String?

    @Option(help: "user, model, version or day.")
    var groupBy = "user"

    func run() async throws {
        guard let grouping = UsageQuery.Grouping(rawValue: groupBy) else { throw ValidationError("--group-by is user, model, version or day") }
        guard FileManager.default.fileExists(atPath: database) else {
            FileHandle.standardError.write(Data("no database at \(database)\n".utf8))
            throw ExitCode.failure
        }
        var from: Double?
        if let since {
            guard
                let parsed = Double(since) ?? ISO8601DateFormatter().date(from: since)?.timeIntervalSince1970
                    ?? (try? Date(since, strategy: .iso8601.year().month().day()))?.timeIntervalSince1970
            else { throw ValidationError("--since: seconds since 1970 or an ISO 8601 date or time") }
            from = parsed
        }
        let store: SQLiteStore
        do {
            store = try SQLiteStore.opening(database)
        } catch {
            FileHandle.standardError.write(Data("switchyard: \(error)\n".utf8))
            throw ExitCode.failure
        }
        let rows = try await store.usage(UsageQuery(from: from, groupBy: grouping))
        try store.close()
        print([groupBy, "requests", "errors", "tokens_in", "tokens_out", "cost_usd"].joined(separator: "\t"))
        for row in rows {
            print("\(row.key)\t\(row.requests)\t\(row.errors)\t\(row.inputTokens)\t\(row.outputTokens)\t\(String(format: "%.6f", row.costUSD))")
        }
    }
}
