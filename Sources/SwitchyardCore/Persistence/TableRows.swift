/// A page of one table's rows as plain values: what `switchyard migrate` carries from one store
/// to the other without either knowing the other.
package struct TableRows: Sendable {
    /// A stored value, as SQLite keeps it.
    package enum Value: Sendable, Hashable {
        case null
        case integer(Int64)
        case real(Double)
        case text(String)
    }

    package var table: String
    package var columns: [String]
    package var rows: [[Value]]

    package init(table: String, columns: [String], rows: [[Value]]) {
        self.table = table
        self.columns = columns
        self.rows = rows
    }

    /// Every table of the schema, parents before the tables that refer to them.
    package static let tables = [
        "settings", "providers", "models", "versions", "backends", "users", "admin_tokens", "seed_state", "audit_log", "request_log",
        "rollup_minute", "experiment_rollup", "sessions", "rollouts", "rollout_events", "provider_models", "experiments",
        "experiment_feedback", "shadow_examples",
    ]
}
