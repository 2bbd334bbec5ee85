import PostgresNIO
import SwitchyardCore

/// Per-user request limits shared by every instance: each user with a limit has one row holding the
/// admission times of the last hour. One `INSERT … ON CONFLICT DO UPDATE` per admission prunes the
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
        let allowed = """
            (SELECT (\(perMinute)::bigint IS NULL OR count(*) FILTER (WHERE t > \(now) - 60) < \(perMinute)::bigint)
                AND (\(perHour)::bigint IS NULL OR count(*) < \(perHour)::bigint)
             FROM unnest(w.times) AS t WHERE t > \(now) - 3600)
            """
        statement.sql = """
            INSERT INTO rate_windows AS w (user_id, times, admitted) VALUES (\(id), ARRAY[\(now)], true)
            ON CONFLICT (user_id) DO UPDATE SET
                admitted = \(allowed),
                times = ARRAY(SELECT t FROM unnest(w.times) AS t WHERE t > \(now) - 3600 ORDER BY t)
                    || CASE WHEN \(allowed) THEN ARRAY[\(now)] ELSE '{}'::float8[] END
            RETURNING admitted, times, \(now) AS now
            """
        // A request waits for this answer: give up soon, and the gateway counts on its own meanwhile.
        guard let row = try await rows(statement.query, deadline: Self.admissionDeadline).first else {
            throw PostgresStoreError(noRow: "the admission statement")
        }
        return SharedAdmission(admitted: try row.get("admitted"), window: try row.get("times"), now: try row.get("now"))
    }
}
