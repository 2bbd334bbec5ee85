import Foundation
import SwitchyardCore
import SwitchyardPostgres
import SwitchyardStore

/// `switchyard backup`: a consistent copy of the database, taken while the gateway runs, and checked.
package enum DatabaseBackup {
    /// Copies the database named by `database`, or by the `[server] database` of the seed file
    /// `config`, to `destination`; returns the line to print.
    package static func copy(database: String?, config: String?, to destination: String) async throws -> String {
        let path: String
        if let database {
            path = database
        } else if let config {
            path = GatewayServer.databasePath(try SeedFile.load(path: config).server.database, relativeTo: config)
        } else {
            throw CommandFailure("give --database PATH or --config FILE")
        }
        if PostgresLocation.isURL(path) {
            throw CommandFailure(
                "backup copies a SQLite file; this database is PostgreSQL: back it up with pg_dump "
                    + "(e.g. pg_dump --format=custom --file=switchyard.dump DATABASE), see docs/scale-out.md")
        }
        guard FileManager.default.fileExists(atPath: path) else { throw CommandFailure("no database at \(path)") }
        do {
            let store = try SQLiteStore.opening(path)
            let size = try await store.backup(to: destination)
            try store.close()
            return "backed up \(path) to \(destination) (\(size) bytes, integrity ok)"
        } catch {
            throw CommandFailure("backup failed: \(error)")
        }
    }
}
