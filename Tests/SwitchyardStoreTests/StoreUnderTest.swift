import Foundation
import GRDB
import Logging
import PostgresNIO
import ServiceLifecycle
import SwitchyardTestSupport
import Testing

@testable import SwitchyardCore
@testable import SwitchyardPostgres
@testable import SwitchyardStore

/// Every repository both stores implement.
typealias AnyStore = ConfigurationRepository & ReleaseRepository & SessionRepository & UsageRepository & ExperimentRepository
    & StatsRepository & ShadowRepository & ModelCatalogRepository

/// An outcome writer of either store.
protocol QueuedOutcomeWriter: OutcomeSink, Service {
    var pendingCount: Int { get }
}

extension EventWriter: QueuedOutcomeWriter {}
extension PostgresEventWriter: QueuedOutcomeWriter {}

/// The stores the shared tests run against: SQLite (a temporary file) and PostgreSQL (a database
/// of its own on the test process's server, `TemporaryPostgres`).
enum StoreKind: String, CaseIterable, Sendable {
    case sqlite, postgres
}

/// One database of `kind`, opened; `reopen` opens it again as a restarted (or another) instance would.
final class StoreUnderTest: Sendable {
    let kind: StoreKind
    /// The SQLite file or the PostgreSQL URL.
    let location: String
    let sqlite: SQLiteStore?
    let postgres: PostgresStore?
    private let directory: URL?

    var store: any AnyStore { sqlite ?? postgres! }

    static func make(_ kind: StoreKind) async throws -> StoreUnderTest {
        switch kind {
        case .sqlite:
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("switchyard-tests-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            return try await StoreUnderTest(kind: kind, location: directory.appendingPathComponent("switchyard.db").path, directory: directory)
        case .postgres:
            return try await StoreUnderTest(kind: kind, location: try TemporaryPostgres.makeDatabase(), directory: nil)
        }
    }

    private init(kind: StoreKind, location: String, directory: URL?) async throws {
        self.kind = kind
        self.location = location
        self.directory = directory
        switch kind {
        case .sqlite:
            sqlite = try SQLiteStore(path: location)
            postgres = nil
        case .postgres:
            sqlite = nil
            postgres = try await PostgresStore.connect(try PostgresLocation(url: location), logger: Logger(label: "test"))
        }
    }

    /// The same database opened again; the caller closes this one first when it means a restart.
    func reopen() async throws -> StoreUnderTest {
        try await StoreUnderTest(kind: kind, location: location, directory: nil)
    }

    func makeWriter(interval: Duration = .milliseconds(250)) -> any QueuedOutcomeWriter {
        if let sqlite { return EventWriter(store: sqlite, interval: interval, logger: Logger(label: "test")) }
        return PostgresEventWriter(store: postgres!, interval: interval, logger: Logger(label: "test"))
    }

    /// The first column of the first row of `sql` (plain SQL both engines read), as an integer.
    func int(_ sql: String) async throws -> Int? {
        if let sqlite { return try await sqlite.pool.read { db in try Int.fetchOne(db, sql: sql) } }
        return try await postgres!.rows(PostgresQuery(unsafeSQL: sql)).first.flatMap { try $0[0].decode(Int?.self) }
    }

    func string(_ sql: String) async throws -> String? {
        if let sqlite { return try await sqlite.pool.read { db in try String.fetchOne(db, sql: sql) } }
        return try await postgres!.rows(PostgresQuery(unsafeSQL: sql)).first.flatMap { try $0[0].decode(String?.self) }
    }

    func adminTokenDigest(named name: String) async throws -> TokenDigest? {
        if let sqlite { return try await sqlite.adminTokenDigest(named: name) }
        return try await postgres!.adminTokenDigest(named: name)
    }

    func storeAdminToken(named name: String, digest: TokenDigest) async throws {
        if let sqlite { return try await sqlite.storeAdminToken(named: name, digest: digest) }
        try await postgres!.storeAdminToken(named: name, digest: digest)
    }

    func close() throws {
        try sqlite?.close()
        postgres?.close()
    }

    deinit {
        if let directory { try? FileManager.default.removeItem(at: directory) }
    }
}
