import GRDB
import SwitchyardCore

extension SQLiteStore: StatsRepository {
    package func timeseries(_ query: TimeseriesQuery) async throws -> [TimeseriesPoint] {
        try await pool.read { db in
            var points = (0..<query.count).map { TimeseriesPoint(time: query.from + Double($0 * query.step)) }
            var conditions = ["minute >= ?", "minute < ?"]
            var arguments: StatementArguments = [query.from, query.to]
            for (column, value) in [("model", query.model), ("version", query.version), ("backend", query.backend)] {
                guard let value else { continue }
                conditions.append("\(column) = ?")
                arguments += [value]
            }
            let rows = try Row.fetchCursor(
                db,
                sql: """
                    SELECT minute, requests, errors, latency_buckets_json, ttft_buckets_json, tokens_in, tokens_out, cost_usd
                    FROM rollup_minute WHERE \(conditions.joined(separator: " AND "))
                    """, arguments: arguments)
            while let row = try rows.next() {
                let minute: Double = row["minute"]
                let index = Int((minute - query.from) / Double(query.step))
                guard points.indices.contains(index) else { continue }
                points[index].requests += row["requests"] as Int
                points[index].errors += row["errors"] as Int
                points[index].latency.merge(LatencyHistogram(counts: try Self.decode([Int].self, row["latency_buckets_json"])))
                points[index].ttft.merge(LatencyHistogram(counts: try Self.decode([Int].self, row["ttft_buckets_json"])))
                points[index].inputTokens += row["tokens_in"] as Int
                points[index].outputTokens += row["tokens_out"] as Int
                points[index].costUSD += row["cost_usd"] as Double
            }
            return points
        }
    }

}
