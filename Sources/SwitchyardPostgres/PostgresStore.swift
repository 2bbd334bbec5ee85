import Foundation
import Logging
import NIOCore
import PostgresNIO
import SwitchyardCore
import Synchronization

/// Switchyard's PostgreSQL database, for several instances sharing one configuration: a pool of
/// connections (PostgresNIO's `PostgresClient`, run by the store itself from `connect` to `close`),
/// numbered migrations applied at start under an advisory lock, and every change announced with
/// `NOTIFY` in the transaction that makes it.
package final class PostgresStore: Sendable {
    package let client: PostgresClient
    package let location: PostgresLocation
    /// Names this process in the notifications it sends, so it can skip its own.
    package let instanceID: String
    let logger: Logger
    private let runner: Task<Void, Never>

    /// The channel configuration changes are announced on; the payload is the sender's `instanceID`.
    package static let changeChannel = "switchyard_config"
    /// The channel conversation bindings are announced on (`SessionNotice` JSON).
    package static let sessionChannel = "switchyard_sessions"

    private init(location: PostgresLocation, logger: Logger) {
        self.location = location
        self.logger = logger
        instanceID = UUID().uuidString
        var configuration = location.clientConfiguration
        configuration.options.maximumConnections = 8
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.client = client
        runner = Task { await client.run() }
    }

    /// Connects to the database `location` names and migrates it to the current schema.
    package static func connect(_ location: PostgresLocation, logger: Logger) async throws -> PostgresStore {
        let store = PostgresStore(location: location, logger: logger)
        do {
            try await PostgresMigrations.migrate(store)
        } catch {
            store.close()
            throw PostgresOpenError(location: location, cause: error)
        }
        return store
    }

    /// The migrations applied so far, oldest first.
    package func appliedMigrations() async throws -> [String] {
        try await rows("SELECT name FROM schema_migrations ORDER BY name").map { try $0.get("name") }
    }

    /// Closes the pool's connections; later calls fail.
    package func close() {
        runner.cancel()
    }

    /// Every row of `query`, each readable by column name.
    func rows(_ query: PostgresQuery, deadline: Duration? = statementDeadline) async throws -> [PostgresRandomAccessRow] {
        do {
            return try await Self.withDeadline(deadline) { [client, logger] in
                try await client.query(query, logger: logger).collect().map { $0.makeRandomAccess() }
            }
        } catch {
            throw PostgresStoreError(error)
        }
    }

    func execute(_ query: PostgresQuery) async throws {
        _ = try await rows(query)
    }

    /// Longest wait for one statement or transaction (`nil`: none): while the server is unreachable the
    /// pool keeps trying to connect and a caller would otherwise wait for as long.
    static let statementDeadline: Duration? = .seconds(10)

    /// Runs `body` in one transaction, failing after `deadline`; `PostgresTransactionError`s are
    /// unwrapped to what the body threw, and a `ReleaseError` it threw (a conflict it found) is
    /// passed on as it is.
    func transaction<Result: Sendable>(
        deadline: Duration? = statementDeadline, _ body: @escaping @Sendable (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        do {
            return try await Self.withDeadline(deadline) { [client, logger] in
                try await client.withTransaction(logger: logger) { connection in try await body(connection) }
            }
        } catch let error as PostgresTransactionError {
            if let conflict = error.closureError as? ReleaseError { throw conflict }
            throw PostgresStoreError(error.closureError ?? error.commitError ?? error.beginError ?? error)
        } catch {
            throw PostgresStoreError(error)
        }
    }

    /// `body`'s result, or a timeout error once `limit` has passed. `body` is then cancelled but
    /// not waited for: a statement written to a connection the server already closed may never
    /// complete, cancelled or not.
    static func withDeadline<Result: Sendable>(
        _ limit: Duration?, _ body: @escaping @Sendable () async throws -> Result
    ) async throws -> Result {
        guard let limit else { return try await body() }
        let race = DeadlineRace<Result>()
        return try await withCheckedThrowingContinuation { continuation in
            race.start(continuation)
            let work = Task {
                do { race.finish(.success(try await body())) } catch { race.finish(.failure(error)) }
            }
            let deadline = Task {
                // Cancelled when the work finishes first: no sleeping task outlives its statement.
                guard (try? await Task.sleep(for: limit)) != nil else { return }
                race.finish(.failure(PostgresStoreError(timeout: limit)))
            }
            race.track(work: work, deadline: deadline)
        }
    }

    /// A connection outside the pool (listening, holding the controller lock).
    func connectDedicated(id: Int) async throws -> PostgresConnection {
        try await PostgresConnection.connect(configuration: try location.connectionConfiguration(), id: id, logger: logger)
    }

    /// Announces a committed change to every instance (delivered when the transaction commits).
    func announceChange(on connection: PostgresConnection) async throws {
        try await connection.run("SELECT pg_notify(\(Self.changeChannel), \(instanceID))", logger: logger)
    }

    static func now() -> Double {
        Date().timeIntervalSince1970
    }

    // MARK: JSON columns

    static func encode<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    static func decode<T: Decodable>(_ type: T.Type, _ json: String) throws -> T {
        try JSONDecoder().decode(type, from: Data(json.utf8))
    }
}

extension PostgresConnection {
    /// Runs `query` and reads all its rows.
    func rows(_ query: PostgresQuery, logger: Logger) async throws -> [PostgresRandomAccessRow] {
        do {
            return try await self.query(query, logger: logger).collect().map { $0.makeRandomAccess() }
        } catch {
            throw PostgresStoreError(error)
        }
    }

    func run(_ query: PostgresQuery, logger: Logger) async throws {
        _ = try await rows(query, logger: logger)
    }

    /// Fails at once on a connection the server closed (a statement written to it would never finish).
    func checkOpen() throws {
        if isClosed { throw PostgresStoreError(closed: ()) }
    }
}

extension PostgresRandomAccessRow {
    /// The value of column `name`.
    func get<T: PostgresDecodable>(_ name: String, as type: T.Type = T.self) throws -> T {
        try self[name].decode(T.self)
    }
}

/// The first of a statement's result and its deadline resumes the waiting caller; the other is
/// cancelled (the statement, or the deadline's sleep).
private final class DeadlineRace<Result: Sendable>: Sendable {
    private struct State {
        var continuation: CheckedContinuation<Result, any Error>?
        var tasks: [Task<Void, Never>] = []
        var finished = false
    }

    private let state = Mutex(State())

    func start(_ waiting: CheckedContinuation<Result, any Error>) {
        state.withLock { $0.continuation = waiting }
    }

    /// The statement and its deadline; cancelled at once if the race already ended.
    func track(work: Task<Void, Never>, deadline: Task<Void, Never>) {
        let finished = state.withLock { state in
            state.tasks = [work, deadline]
            return state.finished
        }
        if finished { cancelAll([work, deadline]) }
    }

    func finish(_ result: Swift.Result<Result, any Error>) {
        let tasks = state.withLock { state -> [Task<Void, Never>]? in
            guard !state.finished else { return nil }
            state.finished = true
            state.continuation?.resume(with: result)
            state.continuation = nil
            return state.tasks
        }
        if let tasks { cancelAll(tasks) }
    }

    private func cancelAll(_ tasks: [Task<Void, Never>]) {
        for task in tasks { task.cancel() }
    }
}

/// A statement whose text is built at run time (optional filters), with its values bound, never spliced.
struct DynamicQuery {
    var sql = ""
    var binds = PostgresBindings()

    /// Binds `value` and returns its placeholder (`$n`).
    mutating func bind(_ value: some PostgresDynamicTypeEncodable) -> String {
        binds.append(value)
        return "$\(binds.count)"
    }

    mutating func bind(_ value: (some PostgresDynamicTypeEncodable)?) -> String {
        binds.append(value)
        return "$\(binds.count)"
    }

    var query: PostgresQuery { PostgresQuery(unsafeSQL: sql, binds: binds) }
}

/// A failed statement in words: the server's message and SQLSTATE and the statement's text (never
/// its bound values, which may be secrets). PostgresNIO's own description hides everything.
package struct PostgresStoreError: Error, CustomStringConvertible {
    package var description: String
    /// The SQLSTATE code, when the server answered with an error.
    package var sqlState: String?

    init(closed: Void) {
        description = "the database closed the connection"
    }

    init(noRow statement: String) {
        description = "\(statement) returned no row"
    }

    init(unexpected answer: String) {
        description = "unexpected answer from the database: \(answer)"
    }

    init(timeout: Duration) {
        description = "no answer from the database within \(timeout)"
    }

    init(_ error: any Error) {
        if let error = error as? PostgresStoreError {
            self = error
            return
        }
        guard let error = error as? PSQLError else {
            description = "\(error)"
            return
        }
        sqlState = error.serverInfo?[.sqlState]
        var text = error.serverInfo?[.message] ?? "\(error.code)"
        if let state = sqlState { text += " (SQLSTATE \(state))" }
        if let detail = error.serverInfo?[.detail] { text += ": \(detail)" }
        if let sql = error.query?.sql {
            text += " in: \(sql.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: " "))"
        }
        if let underlying = error.underlying { text += " (\(underlying))" }
        description = text
    }
}

/// Why the PostgreSQL database could not be used, naming where it is (never the password).
package struct PostgresOpenError: Error, CustomStringConvertible {
    package var location: PostgresLocation
    package var cause: any Error

    package var description: String {
        "cannot use the database \(location.redacted): \(PostgresStoreError(cause))"
    }
}
