import GRDB
import SwitchyardCore

extension SQLiteStore {
    /// The stored digest of a named admin token (e.g. the one generated at first start).
    package func adminTokenDigest(named name: String) async throws -> TokenDigest? {
        try await pool.read { db in
            try String.fetchOne(db, sql: "SELECT token_hash FROM admin_tokens WHERE name = ?", arguments: [name])
                .flatMap(TokenDigest.init(hex:))
        }
    }

    /// Stores an admin token's digest under a name, replacing any earlier one, and audits it.
    package func storeAdminToken(named name: String, digest: TokenDigest) async throws {
        try await pool.write { db in
            let now = Self.now()
            try db.execute(
                sql: "INSERT OR REPLACE INTO admin_tokens (name, token_hash, created_at) VALUES (?, ?, ?)",
                arguments: [name, digest.hex, now])
            try Self.audit(
                db, time: now, actor: "system", source: "system", object: "admin_token:\(name)", action: "create", before: nil,
                after: nil)
        }
    }
}
