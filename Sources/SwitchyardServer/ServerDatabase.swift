import Logging
import Prometheus
import ServiceLifecycle
import SwitchyardCore
import SwitchyardGateway
import SwitchyardPostgres
import SwitchyardStore

/// The database `serve` runs on: a SQLite file this process owns (the default), or a PostgreSQL
/// database shared with other instances. The gateway sees only Core's protocols either way.
package enum ServerDatabase: Sendable {
    case sqlite(SQLiteStore, DatabaseOwnerLock)
    case postgres(PostgresStore)

    /// Opens what `database` names: a `postgres://` URL, else a SQLite file path (claimed first).
    package static func open(
        _ database: String, password: SecretReference?, environment: [String: String], logger: Logger
    ) async throws -> ServerDatabase {
        guard PostgresLocation.isURL(database) else {
            let lock = try DatabaseOwnerLock(databasePath: database)
            return .sqlite(try SQLiteStore.opening(database), lock)
        }
        let location: PostgresLocation
        do {
            location = try PostgresLocation(url: database, password: password?.resolve(in: environment), environment: environment)
        } catch {
            throw CommandFailure("switchyard: \(error)")
        }
        do {
            return .postgres(try await PostgresStore.connect(location, logger: logger))
        } catch {
            throw CommandFailure("switchyard: \(error)")
        }
    }

    var configuration: any ConfigurationRepository {
        switch self {
        case .sqlite(let store, _): store
        case .postgres(let store): store
        }
    }

    /// What `GET /api/system` shows: the file's path, or the URL without its password.
    var displayName: String {
        switch self {
        case .sqlite(let store, _): store.path
        case .postgres(let store): store.location.redacted
        }
    }

    func adminTokenDigest(named name: String) async throws -> TokenDigest? {
        switch self {
        case .sqlite(let store, _): try await store.adminTokenDigest(named: name)
        case .postgres(let store): try await store.adminTokenDigest(named: name)
        }
    }

    func storeAdminToken(named name: String, digest: TokenDigest) async throws {
        switch self {
        case .sqlite(let store, _): try await store.storeAdminToken(named: name, digest: digest)
        case .postgres(let store): try await store.storeAdminToken(named: name, digest: digest)
        }
    }

    /// The repositories, the outcome writer (a service to run), and for PostgreSQL the feed of
    /// changes other instances make.
    func stores(registry: PrometheusCollectorRegistry, logger: Logger) -> (GatewayStores, any Service) {
        switch self {
        case .sqlite(let store, _):
            let writer = EventWriter(store: store, registry: registry, logger: logger)
            return (
                GatewayStores(
                    configuration: store, releases: store, sessions: store, outcomes: writer, usage: store, experiments: store, catalog: store,
                    stats: store, shadows: store), writer
            )
        case .postgres(let store):
            let writer = PostgresEventWriter(store: store, registry: registry, logger: logger)
            return (
                GatewayStores(
                    configuration: store, releases: store, sessions: store, outcomes: writer, usage: store, experiments: store, catalog: store,
                    stats: store, shadows: store, changes: PostgresChangeListener(store: store),
                    election: PostgresControllerLock(store: store), windows: store,
                    sessionChanges: PostgresChangeListener(store: store), limits: store), writer
            )
        }
    }

    /// Drops the caches the database can fill again (SQLite's pages and prepared statements); a
    /// PostgreSQL store keeps nothing worth dropping.
    func releaseMemory() {
        switch self {
        case .sqlite(let store, _): store.releaseMemory()
        case .postgres: break
        }
    }

    func close() throws {
        switch self {
        case .sqlite(let store, let lock):
            try store.close()
            withExtendedLifetime(lock) {}
        case .postgres(let store):
            store.close()
        }
    }
}
