import PostgresNIO
import SwitchyardCore

/// Per-user limits shared by every instance, decided by `switchyard_admit` (migration 0005) in one
/// statement, one round trip: request limits exactly (each user's window of admission times is
/// locked and appended to), tokens per minute and budgets against `user_tokens` and `user_spend`,
/// which every instance's outcome batches add to. Times come from the database's clock, so the
/// instances' clocks do not matter.
extension PostgresStore: SharedLimits {
    static let admissionDeadline: Duration = .seconds(1)

    /// Each user's spend of the current UTC day and month, counted again from the request log.
    static let recountSpend = """
        INSERT INTO user_spend (user_id, day_start, day_usd, month_start, month_usd)
        SELECT r.user_id, p.day_begins, COALESCE(sum(r.cost_usd) FILTER (WHERE r.time >= p.day_begins), 0), p.month_begins, sum(r.cost_usd)
        FROM request_log r, (
            SELECT extract(epoch FROM date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC') AS day_begins,
                extract(epoch FROM date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC') AS month_begins) p
        WHERE r.time >= p.month_begins AND NOT r.shadow
        GROUP BY r.user_id, p.day_begins, p.month_begins
        ON CONFLICT (user_id) DO UPDATE SET day_start = excluded.day_start, day_usd = excluded.day_usd,
            month_start = excluded.month_start, month_usd = excluded.month_usd
        """

    package func admit(_ request: SharedAdmissionRequest) async throws -> SharedAdmission {
        var statement = DynamicQuery()
        let arguments = [
            statement.bind(request.user) + "::text", statement.bind(request.rateLimit.requestsPerMinute) + "::bigint",
            statement.bind(request.rateLimit.requestsPerHour) + "::bigint", statement.bind(request.rateLimit.tokensPerMinute) + "::bigint",
            statement.bind(request.estimatedTokens) + "::bigint", statement.bind(request.budget?.dailyUSD) + "::float8",
            statement.bind(request.budget?.monthlyUSD) + "::float8",
        ]
        statement.sql = "SELECT * FROM switchyard_admit(\(arguments.joined(separator: ", ")))"
        // A request waits for this answer: give up soon, and the gateway decides on its own meanwhile.
        guard let row = try await rows(statement.query, deadline: Self.admissionDeadline).first else {
            throw PostgresStoreError(noRow: "the admission statement")
        }
        let refusedBy: String? = try row.get("refused_by")
        let refusal = refusedBy.flatMap(SharedAdmission.Refusal.init(rawValue:))
        guard refusal != nil || refusedBy == nil else { throw PostgresStoreError(unexpected: "refused by \(refusedBy ?? "")") }
        return SharedAdmission(
            refusal: refusal, retryAfter: try row.get("retry_after"),
            minuteRequests: try row.get("minute_requests"), requestsResetSeconds: try row.get("requests_reset"),
            minuteTokens: try row.get("minute_tokens"), tokensResetSeconds: try row.get("tokens_reset"), daySpendUSD: try row.get("day_usd"),
            monthSpendUSD: try row.get("month_usd"), now: try row.get("admitted_at"))
    }
}
