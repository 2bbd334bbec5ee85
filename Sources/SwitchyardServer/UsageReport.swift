import Foundation
import Logging
import SwitchyardCore
import SwitchyardPostgres
import SwitchyardStore

/// `switchyard usage`: requests, tokens and cost from a database file or a shared PostgreSQL
/// database (every instance's requests), as tab-separated lines.
package enum UsageReport {
    /// The lines of the report; `since` is seconds since 1970 or an ISO 8601 date or time.
    package static func lines(
        database: String, since: String?, groupBy: String, environment: [String: String] = ProcessInfo.processInfo.environment
    ) async throws -> [String] {
        guard let grouping = UsageQuery.Grouping(rawValue: groupBy) else {
            throw CommandFailure("--group-by is user, model, version, day or endpoint")
        }
        let isPostgres = PostgresLocation.isURL(database)
        guard isPostgres || FileManager.default.fileExists(atPath: database) else { throw CommandFailure("no database at \(database)") }
        var from: Double?
        if let since {
            guard
                let parsed = Double(since) ?? ISO8601DateFormatter().date(from: since)?.timeIntervalSince1970
                    ?? (try? Date(since, strategy: .iso8601.year().month().day()))?.timeIntervalSince1970
            else { throw CommandFailure("--since: seconds since 1970 or an ISO 8601 date or time") }
            from = parsed
        }
        let query = UsageQuery(from: from, groupBy: grouping)
        let rows: [UsageRow]
        do {
            if isPostgres {
                let store = try await PostgresStore.connect(
                    try PostgresLocation(url: database, environment: environment), logger: Logger(label: "switchyard"))
                defer { store.close() }
                rows = try await store.usage(query)
            } else {
                let store = try SQLiteStore.opening(database)
                defer { try? store.close() }
                rows = try await store.usage(query)
            }
        } catch {
            throw CommandFailure("switchyard: \(error)")
        }
        return [[groupBy, "requests", "errors", "tokens_in", "tokens_out", "cost_usd"].joined(separator: "\t")]
            + rows.map {
                "\($0.shadow ? "shadow:" : "")\($0.key)\t\($0.requests)\t\($0.errors)\t\($0.inputTokens)\t\($0.outputTokens)\t\(String(format: "%.6f", $0.costUSD))"
            }
    }
}
