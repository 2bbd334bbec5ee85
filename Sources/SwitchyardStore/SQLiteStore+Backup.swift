import Foundation
import GRDB
import SwitchyardCore

/// Why a backup failed.
package struct BackupError: Error, CustomStringConvertible {
    package var description: String
}

extension SQLiteStore {
    /// Writes a consistent copy of the database to `destination` with `VACUUM INTO` (safe while the
    /// gateway serves and writes), then checks the copy with `PRAGMA integrity_check`.
    /// Returns the copy's size in bytes.
    @discardableResult
    package func backup(to destination: String) async throws -> Int {
        guard !FileManager.default.fileExists(atPath: destination) else {
            throw BackupError(description: "\(destination) exists already; choose a new file")
        }
        try await pool.writeWithoutTransaction { db in
            try db.execute(sql: "VACUUM INTO ?", arguments: [destination])
        }
        let copy = try DatabaseQueue(path: destination)
        let result = try await copy.read { db in try String.fetchOne(db, sql: "PRAGMA integrity_check") }
        try copy.close()
        guard result == "ok" else {
            throw BackupError(description: "integrity check of \(destination) failed: \(result ?? "no answer")")
        }
        let size = try FileManager.default.attributesOfItem(atPath: destination)[.size] as? Int
        return size ?? 0
    }
}
