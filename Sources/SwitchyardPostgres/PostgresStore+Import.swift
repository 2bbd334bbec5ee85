import Foundation
import PostgresNIO
import SwitchyardCore

extension PostgresStore {
    /// Whether the database holds no configuration, history or audit yet (safe to import into).
    package func isEmpty() async throws -> Bool {
        let row = try await rows(
            """
            SELECT (SELECT COUNT(*) FROM providers) + (SELECT COUNT(*) FROM models) + (SELECT COUNT(*) FROM users)
                + (SELECT COUNT(*) FROM audit_log) + (SELECT COUNT(*) FROM request_log) AS total
            """
        ).first
        return try row?.get("total", as: Int.self) == 0
    }

    /// Imports every page `pages` yields, table by table, in one transaction: the columns both
    /// schemas have are copied (SQLite's 0/1 as booleans, its JSON histogram buckets as arrays,
    /// row ids kept and the sequences moved past them), and each user's spend of this day and month is
    /// counted from the copied request log; a failure leaves the database as it was.
    /// Returns the rows imported per table.
    package func importTables(_ pages: @escaping @Sendable (String, Int) async throws -> TableRows?) async throws -> [String: Int] {
        try await transaction(deadline: nil) { [self] connection in
            var counts: [String: Int] = [:]
            for table in TableRows.tables {
                var types: [String: String] = [:]
                for row in try await connection.rows(
                    "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = \(table)",
                    logger: logger)
                {
                    types[try row.get("column_name")] = try row.get("data_type")
                }
                var offset = 0
                while let page = try await pages(table, offset), !page.rows.isEmpty {
                    try await Self.insert(page, types: types, connection: connection, logger: logger)
                    offset += page.rows.count
                }
                counts[table] = offset
                if types["id"] == "bigint", offset > 0 {
                    try await connection.run(
                        PostgresQuery(
                            unsafeSQL: "SELECT setval(pg_get_serial_sequence('\(table)', 'id'), (SELECT MAX(id) FROM \(table)))"),
                        logger: logger)
                }
            }
            // Budgets are checked against these counters: they start from the spend the copied log holds.
            try await connection.run(PostgresQuery(unsafeSQL: Self.recountSpend), logger: logger)
            return counts
        }
    }

    private static func insert(_ page: TableRows, types: [String: String], connection: PostgresConnection, logger: Logger) async throws {
        // SQLite's histogram columns hold JSON text; here they are arrays.
        let renamed = page.columns.map { $0.hasSuffix("_buckets_json") ? String($0.dropLast(5)) : $0 }
        let kept = renamed.indices.filter { types[renamed[$0]] != nil }
        var statement = DynamicQuery()
        var tuples: [String] = []
        for row in page.rows {
            var placeholders: [String] = []
            for index in kept {
                placeholders.append(try bind(row[index], as: types[renamed[index]] ?? "text", into: &statement))
            }
            tuples.append("(" + placeholders.joined(separator: ", ") + ")")
        }
        statement.sql = "INSERT INTO \(page.table) (\(kept.map { renamed[$0] }.joined(separator: ", "))) VALUES " + tuples.joined(separator: ", ")
        try await connection.run(statement.query, logger: logger)
    }

    private static func bind(_ value: TableRows.Value, as type: String, into statement: inout DynamicQuery) throws -> String {
        switch (value, type) {
        case (.null, _): return statement.bind(String?.none) + "::\(type == "ARRAY" ? "bigint[]" : type)"
        case (.integer(let integer), "boolean"): return statement.bind(integer != 0)
        case (.integer(let integer), "double precision"): return statement.bind(Double(integer))
        case (.integer(let integer), "text"): return statement.bind(String(integer))
        case (.integer(let integer), _): return statement.bind(Int(integer))
        case (.real(let real), "bigint"): return statement.bind(Int(real))
        case (.real(let real), _): return statement.bind(real)
        case (.text(let text), "ARRAY"): return statement.bind(try decode([Int].self, text))
        case (.text(let text), _): return statement.bind(text)
        }
    }
}
