import PostgresNIO
import SwitchyardCore

/// Per-user request limits shared by every instance: each user with a limit has one row holding the
/// admission times its limits still count (the last hour with an hourly limit, else the last minute;
/// at most the limit's worth, since refusals are not kept). One `INSERT … ON CONFLICT DO UPDATE` per admission prunes the
/// window, decides, and appends: the conflicting row is locked and read in its latest committed
/// version, so concurrent admissions on several instances are serialized per user and exact. Times
/// come from the database's clock, so the instances' clocks do not matter.
extension PostgresStore: SharedRequestLimits {
    static let admissionDeadline: Duration = .seconds(1)

    package func admit(user: String, requestsPerMinute: Int?, requestsPerHour: Int?) async throws -> SharedAdmission {
        let now = "extract(epoch FROM statement_timestamp())::float8"
        var statement = DynamicQuery()
        let id = statement.bind(user)
        let perMinute = statement.bind(requestsPerMinute)
        let perHour = statement.bind(requestsPerHour)
        // The window keeps what a limit still counts: the last hour with an hourly limit, else the last minute.
        let horizon = requestsPerHour == nil ? 60 : 3_600
        let allowed = """
            (SELECT (\(perMinute)::bigint IS NULL OR count(*) FILTER (WHERE t > \(now) - 60) < \(perMinute)::bigint)
                AND (\(perHour)::bigint IS NULL OR count(*) < \(perHour)::bigint)
             FROM unnest(w.times) AS t WHERE t > \(now) - \(horizon))
            """
        statement.sql = """
            INSERT INTO rate_windows AS w (user_id, times, admitted) VALUES (\(id), ARRAY[\(now)], true)
            ON CONFLICT (user_id) DO UPDATE SET
                admitted = \(allowed),
                times = ARRAY(SELECT t FROM unnest(w.times) AS t WHERE t > \(now) - \(horizon))
                    || CASE WHEN \(allowed) THEN ARRAY[\(now)] ELSE '{}'::float8[] END
            RETURNING admitted, times, \(now) AS now
            """
        // A request waits for this answer: give up soon, and the gateway counts on its own meanwhile.
        guard let row = try await rows(statement.query, deadline: Self.admissionDeadline).first else {
            throw PostgresStoreError(noRow: "the admission statement")
        }
        // Appended in commit order, which may differ from the clock's by a hair between instances.
        let window = try row.get("times", as: [Double].self).sorted()
        return SharedAdmission(admitted: try row.get("admitted"), window: window, now: try row.get("now"))
    }
}
