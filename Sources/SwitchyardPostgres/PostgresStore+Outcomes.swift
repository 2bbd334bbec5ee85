import PostgresNIO
import SwitchyardCore

/// Reads of what every instance recorded: usage, experiment totals, traffic over time, shadow copies,
/// and the rollout analysis windows.
extension PostgresStore: UsageRepository, ExperimentRepository, StatsRepository, ShadowRepository, OutcomeWindowRepository {
    /// As `RecentOutcomes.window` computes it in memory: nearest-rank p95 (`percentile_disc`), client
    /// departures not counted as errors, and a request that fell back from the version counted as its failure.
    package func window(model: String, version: String, since: Double, shadow: Bool) async throws -> VersionWindow {
        let served = try await rows(
            """
            SELECT COUNT(*) AS requests, COUNT(*) FILTER (WHERE status >= 500 OR status = 429) AS errors,
                percentile_disc(0.95) WITHIN GROUP (ORDER BY latency_ms) AS p95_latency,
                percentile_disc(0.95) WITHIN GROUP (ORDER BY ttft_ms) AS p95_ttft, AVG(shadow_similarity) AS agreement
            FROM request_log WHERE model = \(model) AND version = \(version) AND time >= \(since) AND shadow = \(shadow)
            """)
        guard let row = served.first else { return VersionWindow(requests: 0, errors: 0) }
        var window = VersionWindow(
            requests: try row.get("requests"), errors: try row.get("errors"), p95LatencyMilliseconds: try row.get("p95_latency"),
            p95TTFTMilliseconds: try row.get("p95_ttft"), meanAgreement: try row.get("agreement"))
        if !shadow {
            let failed =
                try await rows(
                    """
                    SELECT COUNT(*) AS failed FROM request_log
                    WHERE model = \(model) AND fell_back_from = \(version) AND time >= \(since) AND status <> 499 AND NOT shadow
                    """
                ).first.map { try $0.get("failed", as: Int.self) } ?? 0
            window.requests += failed
            window.errors += failed
        }
        return window
    }

    package func spendByUser(since time: Double) async throws -> [String: Double] {
        var spend: [String: Double] = [:]
        for row in try await rows(
            "SELECT user_id, SUM(cost_usd) AS cost FROM request_log WHERE time >= \(time) AND NOT shadow GROUP BY user_id")
        {
            spend[try row.get("user_id")] = try row.get("cost")
        }
        return spend
    }

    package func usage(_ query: UsageQuery) async throws -> [UsageRow] {
        let key: String
        switch query.groupBy {
        case .user: key = "user_id"
        case .model: key = "model"
        case .version: key = "model || '/' || version"
        case .day: key = "to_char(to_timestamp(time) AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
        case .endpoint: key = "endpoint"
        }
        var statement = DynamicQuery()
        var conditions: [String] = []
        if let user = query.user {
            // Shadow copies are the operator's, never a user's usage.
            conditions.append("user_id = \(statement.bind(user)) AND NOT shadow")
        }
        if let model = query.model { conditions.append("model = \(statement.bind(model))") }
        if let endpoint = query.endpoint { conditions.append("endpoint = \(statement.bind(endpoint))") }
        if let from = query.from { conditions.append("time >= \(statement.bind(from))") }
        if let to = query.to { conditions.append("time < \(statement.bind(to))") }
        let filter = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        statement.sql = """
            SELECT \(key) AS key, shadow, COUNT(*) AS requests,
                SUM(CASE WHEN status >= 500 OR status IN (429, 499) THEN 1 ELSE 0 END)::BIGINT AS errors,
                SUM(tokens_in)::BIGINT AS tokens_in, SUM(tokens_out)::BIGINT AS tokens_out, SUM(cost_usd) AS cost,
                SUM(cached_input_tokens)::BIGINT AS cached_in, SUM(cache_write_tokens)::BIGINT AS cache_write
            FROM request_log \(filter) GROUP BY 1, shadow ORDER BY (\(key)) COLLATE "C", shadow
            """
        return try await rows(statement.query).map { row in
            UsageRow(
                key: try row.get("key"), requests: try row.get("requests"), errors: try row.get("errors"), inputTokens: try row.get("tokens_in"),
                outputTokens: try row.get("tokens_out"), costUSD: try row.get("cost"), shadow: try row.get("shadow"),
                cachedInputTokens: try row.get("cached_in"), cacheWriteTokens: try row.get("cache_write"))
        }
    }

    /// From `experiment_rollup`: one row per variant however long the experiment ran.
    package func experimentTotals(_ experiment: String) async throws -> [String: VariantTotals] {
        var totals: [String: VariantTotals] = [:]
        for row in try await rows("SELECT * FROM experiment_rollup WHERE experiment = \(experiment)") {
            totals[try row.get("variant")] = try VariantTotals(postgresRow: row)
        }
        for row in try await rows(
            """
            SELECT variant, COUNT(*) AS count, SUM(score) AS total, SUM(score * score) AS squares
            FROM experiment_feedback WHERE experiment = \(experiment) GROUP BY variant
            """)
        {
            let variant: String = try row.get("variant")
            totals[variant, default: VariantTotals()].feedback = Statistics.Moments(
                count: try row.get("count"), sum: try row.get("total"), sumOfSquares: try row.get("squares"))
        }
        return totals
    }

    package func assignment(ofRequest requestID: String) async throws -> (experiment: String, variant: String)? {
        guard
            let row = try await rows(
                "SELECT experiment, variant FROM request_log WHERE request_id = \(requestID) AND experiment IS NOT NULL ORDER BY id DESC LIMIT 1"
            ).first,
            let experiment = try row.get("experiment", as: String?.self)
        else { return nil }
        return (experiment, try row.get("variant", as: String?.self) ?? "")
    }

    package func saveFeedback(_ feedback: ExperimentFeedback) async throws {
        try await execute(
            """
            INSERT INTO experiment_feedback (experiment, request_id, variant, user_id, score, time)
            VALUES (\(feedback.experiment), \(feedback.requestID), \(feedback.variant), \(feedback.user), \(feedback.score), \(feedback.time))
            ON CONFLICT (experiment, request_id) DO UPDATE SET variant = excluded.variant, user_id = excluded.user_id,
                score = excluded.score, time = excluded.time
            """)
    }

    package func timeseries(_ query: TimeseriesQuery) async throws -> [TimeseriesPoint] {
        var points = (0..<query.count).map { TimeseriesPoint(time: query.from + Double($0 * query.step)) }
        var statement = DynamicQuery()
        var conditions = ["minute >= \(statement.bind(query.from))", "minute < \(statement.bind(query.to))"]
        for (column, value) in [("model", query.model), ("version", query.version), ("backend", query.backend)] {
            guard let value else { continue }
            conditions.append("\(column) = \(statement.bind(value))")
        }
        statement.sql = """
            SELECT minute, requests, errors, latency_buckets, ttft_buckets, tokens_in, tokens_out, cost_usd
            FROM rollup_minute WHERE \(conditions.joined(separator: " AND "))
            """
        for row in try await rows(statement.query) {
            let minute: Int = try row.get("minute")
            let index = Int((Double(minute) - query.from) / Double(query.step))
            guard points.indices.contains(index) else { continue }
            points[index].requests += try row.get("requests", as: Int.self)
            points[index].errors += try row.get("errors", as: Int.self)
            points[index].latency.merge(LatencyHistogram(counts: try row.get("latency_buckets")))
            points[index].ttft.merge(LatencyHistogram(counts: try row.get("ttft_buckets")))
            points[index].inputTokens += try row.get("tokens_in", as: Int.self)
            points[index].outputTokens += try row.get("tokens_out", as: Int.self)
            points[index].costUSD += try row.get("cost_usd", as: Double.self)
        }
        return points
    }

    package func shadowPairs(model: String, version: String, since: Double, limit: Int) async throws -> [ShadowPairRecord] {
        try await rows(
            """
            SELECT s.status, s.latency_ms, s.ttft_ms, s.tokens_in, s.tokens_out, s.cost_usd, s.shadow_similarity, s.shadow_exact,
                p.status AS p_status, p.latency_ms AS p_latency_ms, p.ttft_ms AS p_ttft_ms, p.tokens_in AS p_tokens_in,
                p.tokens_out AS p_tokens_out, p.cost_usd AS p_cost_usd
            FROM request_log s
            LEFT JOIN request_log p ON p.id = (
                SELECT id FROM request_log WHERE request_id = s.request_id AND NOT shadow ORDER BY id DESC LIMIT 1)
            WHERE s.shadow AND s.model = \(model) AND s.version = \(version) AND s.time >= \(since)
            ORDER BY s.time DESC LIMIT \(limit)
            """
        ).map { row in
            let shadow = AnswerRecord(
                status: try row.get("status"), latencyMilliseconds: try row.get("latency_ms"), timeToFirstTokenMilliseconds: try row.get("ttft_ms"),
                inputTokens: try row.get("tokens_in"), outputTokens: try row.get("tokens_out"), costUSD: try row.get("cost_usd"))
            let primary = try row.get("p_status", as: Int?.self).map { status in
                AnswerRecord(
                    status: status, latencyMilliseconds: try row.get("p_latency_ms"), timeToFirstTokenMilliseconds: try row.get("p_ttft_ms"),
                    inputTokens: try row.get("p_tokens_in"), outputTokens: try row.get("p_tokens_out"), costUSD: try row.get("p_cost_usd"))
            }
            return ShadowPairRecord(
                shadow: shadow, primary: primary, similarity: try row.get("shadow_similarity"), exactMatch: try row.get("shadow_exact"))
        }
    }

    package func shadowExamples(model: String, version: String, limit: Int) async throws -> [ShadowExampleRecord] {
        try await rows(
            """
            SELECT request_id, time, similarity, primary_text, shadow_text FROM shadow_examples
            WHERE model = \(model) AND version = \(version) ORDER BY similarity, time DESC LIMIT \(limit)
            """
        ).map { row in
            ShadowExampleRecord(
                requestID: try row.get("request_id"), time: try row.get("time"), similarity: try row.get("similarity"),
                primaryText: try row.get("primary_text"), shadowText: try row.get("shadow_text"))
        }
    }
}
