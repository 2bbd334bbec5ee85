import GRDB
import SwitchyardCore

extension SQLiteStore: SessionRepository {
    package func loadSessions(now: Double) async throws -> [SessionBinding] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM sessions WHERE expires_at > ?", arguments: [now]).map { row in
                SessionBinding(
                    userID: row["user_id"], sessionID: row["session_id"], model: row["model"], version: row["version"],
                    backend: row["backend"], expiresAt: row["expires_at"])
            }
        }
    }

    package func saveSession(_ binding: SessionBinding) async throws {
        try await pool.write { db in
            try db.execute(
                sql: """
                    INSERT INTO sessions (user_id, session_id, model, version, backend, expires_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT(user_id, session_id) DO UPDATE SET model = excluded.model, version = excluded.version,
                        backend = excluded.backend, expires_at = excluded.expires_at, updated_at = excluded.updated_at
                    """,
                arguments: [
                    binding.userID, binding.sessionID, binding.model, binding.version, binding.backend, binding.expiresAt, Self.now(),
                ])
        }
    }

    package func deleteSession(id: String) async throws {
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM sessions WHERE session_id = ?", arguments: [id])
        }
    }

    package func purgeSessions(expiredBefore now: Double) async throws {
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM sessions WHERE expires_at <= ?", arguments: [now])
        }
    }
}
