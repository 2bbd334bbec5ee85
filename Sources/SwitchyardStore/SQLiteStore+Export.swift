import GRDB
import SwitchyardCore

extension SQLiteStore {
    /// Up to `limit` rows of `table` after the row `offset` rows in (in rowid order), as plain values.
    package func exportRows(of table: String, offset: Int, limit: Int) async throws -> TableRows {
        guard TableRows.tables.contains(table) else { throw DatabaseError(message: "no table \(table)") }
        return try await pool.read { db in
            let columns = try db.columns(in: table).map(\.name)
            let rows = try Row.fetchAll(db, sql: "SELECT * FROM \(table) ORDER BY rowid LIMIT ? OFFSET ?", arguments: [limit, offset]).map {
                row in
                columns.map { column -> TableRows.Value in
                    switch row[column] as DatabaseValue? {
                    case .none: return .null
                    case .some(let value):
                        switch value.storage {
                        case .null: return .null
                        case .int64(let integer): return .integer(integer)
                        case .double(let real): return .real(real)
                        case .string(let text): return .text(text)
                        case .blob: return .null
                        }
                    }
                }
            }
            return TableRows(table: table, columns: columns, rows: rows)
        }
    }
}
