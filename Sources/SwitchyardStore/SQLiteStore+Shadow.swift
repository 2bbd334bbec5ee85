import GRDB
import SwitchyardCore

extension SQLiteStore: ShadowRepository {
    package func shadowPairs(model: String, version: String, since: Double, limit: Int) async throws -> [ShadowPairRecord] {
        try await pool.read { db in
            let rows = try Row.fetchCursor(
                db,
                sql: """
                    SELECT s.status, s.latency_ms, s.ttft_ms, s.tokens_in, s.tokens_out, s.cost_usd, s.shadow_similarity, s.shadow_exact,
                        p.status AS p_status, p.latency_ms AS p_latency_ms, p.ttft_ms AS p_ttft_ms, p.tokens_in AS p_tokens_in,
                        p.tokens_out AS p_tokens_out, p.cost_usd AS p_cost_usd
                    FROM request_log s
                    LEFT JOIN request_log p ON p.id = (
                        SELECT id FROM request_log WHERE request_id = s.request_id AND shadow = 0 ORDER BY id DESC LIMIT 1)
                    WHERE s.shadow = 1 AND s.model = ? AND s.version = ? AND s.time >= ?
                    ORDER BY s.time DESC LIMIT ?
                    """, arguments: [model, version, since, limit])
            var pairs: [ShadowPairRecord] = []
            while let row = try rows.next() {
                let shadow = AnswerRecord(
                    status: row["status"], latencyMilliseconds: row["latency_ms"], timeToFirstTokenMilliseconds: row["ttft_ms"],
                    inputTokens: row["tokens_in"], outputTokens: row["tokens_out"], costUSD: row["cost_usd"])
                let primary = (row["p_status"] as Int?).map { status in
                    AnswerRecord(
                        status: status, latencyMilliseconds: row["p_latency_ms"], timeToFirstTokenMilliseconds: row["p_ttft_ms"],
                        inputTokens: row["p_tokens_in"], outputTokens: row["p_tokens_out"], costUSD: row["p_cost_usd"])
                }
                pairs.append(
                    ShadowPairRecord(
                        shadow: shadow, primary: primary, similarity: row["shadow_similarity"],
                        exactMatch: (row["shadow_exact"] as Int?).map { $0 == 1 }))
            }
            return pairs
        }
    }

    package func shadowExamples(model: String, version: String, limit: Int) async throws -> [ShadowExampleRecord] {
        try await pool.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT request_id, time, similarity, primary_text, shadow_text FROM shadow_examples
                    WHERE model = ? AND version = ? ORDER BY similarity, time DESC LIMIT ?
                    """, arguments: [model, version, limit]
            ).map { row in
                ShadowExampleRecord(
                    requestID: row["request_id"], time: row["time"], similarity: row["similarity"], primaryText: row["primary_text"],
                    shadowText: row["shadow_text"])
            }
        }
    }
}
