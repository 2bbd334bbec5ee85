import Foundation
import Logging
import SwitchyardCore
import SwitchyardPostgres
import SwitchyardStore

/// `switchyard migrate --from FILE --to postgres://…`: an appliance's SQLite database (configuration,
/// rollouts, experiments, sessions, audit, request log and rollups) copied into an empty PostgreSQL
/// database, in one transaction, while no gateway serves the file.
package enum DatabaseMigration {
    static let pageSize = 500

    /// Copies and returns the lines to print.
    package static func copy(from source: String, to destination: String, environment: [String: String], logger: Logger) async throws -> [String] {
        guard PostgresLocation.isURL(destination) else { throw CommandFailure("--to: expected postgres://USER@HOST:PORT/DATABASE") }
        guard !PostgresLocation.isURL(source), FileManager.default.fileExists(atPath: source) else {
            throw CommandFailure("--from: no SQLite database at \(source)")
        }
        let location: PostgresLocation
        do {
            location = try PostgresLocation(url: destination, environment: environment)
        } catch {
            throw CommandFailure("--to: \(error)")
        }
        let lock: DatabaseOwnerLock
        let sqlite: SQLiteStore
        do {
            // No gateway may write the file while it is copied.
            lock = try DatabaseOwnerLock(databasePath: source)
            sqlite = try SQLiteStore.opening(source)
        } catch {
            throw CommandFailure("switchyard: \(error)")
        }
        defer {
            try? sqlite.close()
            withExtendedLifetime(lock) {}
        }
        let postgres: PostgresStore
        do {
            postgres = try await PostgresStore.connect(location, logger: logger)
        } catch {
            throw CommandFailure("switchyard: \(error)")
        }
        defer { postgres.close() }
        guard try await postgres.isEmpty() else {
            throw CommandFailure("\(location.redacted) holds a configuration or history already; migrate into an empty database")
        }
        let counts: [String: Int]
        do {
            counts = try await postgres.importTables { table, offset in
                try await sqlite.exportRows(of: table, offset: offset, limit: pageSize)
            }
        } catch {
            throw CommandFailure("migrate failed (nothing was written): \(error)")
        }
        return ["copied \(source) to \(location.redacted):"]
            + TableRows.tables.compactMap { table in counts[table].map { "  \(table)\t\($0) rows" } }
    }
}
