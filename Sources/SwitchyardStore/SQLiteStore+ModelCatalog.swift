import GRDB
import SwitchyardCore

extension SQLiteStore: ModelCatalogRepository {
    package func saveProviderModels(_ models: ProviderModels) async throws {
        try await pool.write { db in
            try db.execute(
                sql: """
                    INSERT INTO provider_models (provider, models_json, fetched_at, error) VALUES (?, ?, ?, ?)
                    ON CONFLICT(provider) DO UPDATE SET models_json = excluded.models_json, fetched_at = excluded.fetched_at,
                        error = excluded.error
                    """,
                arguments: [models.provider, try Self.encode(models.models), models.fetchedAt, models.error])
        }
    }

    package func loadProviderModels(_ provider: String) async throws -> ProviderModels? {
        try await pool.read { db -> ProviderModels? in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM provider_models WHERE provider = ?", arguments: [provider]) else {
                return nil
            }
            return ProviderModels(
                provider: provider, models: try Self.decode([String].self, row["models_json"]), fetchedAt: row["fetched_at"], error: row["error"])
        }
    }
}
