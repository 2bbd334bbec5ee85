import Foundation
import GRDB
import SwitchyardCore

/// Switchyard's SQLite database: one file, WAL mode, one writer and concurrent readers.
package final class SQLiteStore: Sendable {
    package let pool: DatabasePool
    package let path: String

    /// Opens (creating if needed) the database at `path` and migrates it to the current schema.
    package init(path: String) throws {
        var configuration = Configuration()
        configuration.foreignKeysEnabled = true
        configuration.busyMode = .timeout(5)
        configuration.label = "switchyard"
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        self.path = path
        pool = try DatabasePool(path: path, configuration: configuration)
        try Migrations.migrator.migrate(pool)
    }

    /// The migrations applied so far, oldest first.
    package func appliedMigrations() async throws -> [String] {
        try await pool.read { db in try Migrations.migrator.appliedMigrations(db) }
    }

    /// Drops what the connections keep in memory and can read again: the page caches and prepared
    /// statements (read-only connections are closed and reopened when next needed). Blocks while a
    /// write is in progress: call it off the event loops.
    package func releaseMemory() {
        pool.releaseMemory()
    }

    /// Closes the connections; later calls fail.
    package func close() throws {
        try pool.close()
    }

    static func now() -> Double {
        Date().timeIntervalSince1970
    }
}
