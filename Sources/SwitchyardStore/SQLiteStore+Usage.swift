import GRDB
import SwitchyardCore

extension SQLiteStore: UsageRepository {
    package func spendByUser(since time: Double) async throws -> [String: Double] {
        try await pool.read { db in
            var spend: [String: Double] = [:]
            for row in try Row.fetchAll(
                db, sql: "SELECT user_id, SUM(cost_usd) AS cost FROM request_log WHERE time >= ? AND shadow = 0 GROUP BY user_id", arguments: [time])
            {
                spend[row["user_id"]] = row["cost"]
            }
            return spend
        }
    }

    package func usage(_ query: UsageQuery) async throws -> [UsageRow] {
        let key: String
        switch query.groupBy {
        case .user: key = "user_id"
        case .model: key = "model"
        case .version: key = "model || '/' || version"
        case .day: key = "strftime('%Y-%m-%d', time, 'unixepoch')"
        case .endpoint: key = "endpoint"
        }
        return try await pool.read { db in
            var conditions: [String] = []
            var arguments: StatementArguments = []
            if let user = query.user {
                // Shadow copies are the operator's, never a user's usage.
                conditions.append("user_id = ? AND shadow = 0")
                arguments += [user]
            }
            if let model = query.model {
                conditions.append("model = ?")
                arguments += [model]
            }
            if let endpoint = query.endpoint {
                conditions.append("endpoint = ?")
                arguments += [endpoint]
            }
            if let from = query.from {
                conditions.append("time >= ?")
                arguments += [from]
            }
            if let to = query.to {
                conditions.append("time < ?")
                arguments += [to]
            }
            let filter = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
            let sql = """
                SELECT \(key) AS key, shadow, COUNT(*) AS requests,
                    SUM(CASE WHEN status >= 500 OR status IN (429, 499) THEN 1 ELSE 0 END) AS errors,
                    SUM(tokens_in) AS tokens_in, SUM(tokens_out) AS tokens_out, SUM(cost_usd) AS cost,
                    SUM(cached_input_tokens) AS cached_in, SUM(cache_write_tokens) AS cache_write
                FROM request_log \(filter) GROUP BY key, shadow ORDER BY key, shadow
                """
            return try Row.fetchAll(db, sql: sql, arguments: arguments).map { row in
                UsageRow(
                    key: row["key"], requests: row["requests"], errors: row["errors"], inputTokens: row["tokens_in"],
                    outputTokens: row["tokens_out"], costUSD: row["cost"], shadow: row["shadow"], cachedInputTokens: row["cached_in"],
                    cacheWriteTokens: row["cache_write"])
            }
        }
    }
}
