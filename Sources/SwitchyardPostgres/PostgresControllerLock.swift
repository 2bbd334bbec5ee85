import Logging
import PostgresNIO
import SwitchyardCore
import Synchronization

/// Elects the controller among the instances on one database: the one holding a session-level
/// PostgreSQL advisory lock on a connection of its own. The lock goes with the connection, so an
/// instance that dies (even `kill -9`) frees it at once and another takes it at its next attempt,
/// within one `interval`. The holder checks its connection every `interval`; when the check fails
/// it stops being the controller before it reconnects.
package final class PostgresControllerLock: ControllerElection {
    /// `pg_advisory_lock` key of the controller role ("SWYD" + 3).
    package static let lockKey: Int64 = 0x5357_5944_0000_0003

    /// Longest wait for the lock's statements before the connection counts as lost.
    static let statementDeadline: Duration = .seconds(3)

    private let store: PostgresStore
    private let interval: Duration
    private let held = Atomic<Bool>(false)

    package init(store: PostgresStore, interval: Duration = .seconds(1)) {
        self.store = store
        self.interval = interval
    }

    package var isController: Bool { held.load(ordering: .acquiring) }

    package func campaign() async {
        let logger = store.logger
        var connectionID = 2_000
        while !Task.isCancelled {
            connectionID += 1
            do {
                let connection = try await store.connectDedicated(id: connectionID)
                defer {
                    held.store(false, ordering: .releasing)
                    Task { try? await connection.close() }
                }
                while !Task.isCancelled {
                    // A server that closed the connection or stopped answering ends the role (and the
                    // connection, freeing the lock).
                    try connection.checkOpen()
                    if isController {
                        try await PostgresStore.withDeadline(Self.statementDeadline) { try await connection.run("SELECT 1", logger: logger) }
                    } else {
                        let rows = try await PostgresStore.withDeadline(Self.statementDeadline) {
                            try await connection.rows("SELECT pg_try_advisory_lock(\(Self.lockKey)) AS taken", logger: logger)
                        }
                        if try rows.first?.get("taken", as: Bool.self) == true {
                            held.store(true, ordering: .releasing)
                        }
                    }
                    try await Task.sleep(for: interval)
                }
            } catch {
                held.store(false, ordering: .releasing)
                guard !Task.isCancelled else { return }
                logger.warning("controller election: database connection failed; retrying", metadata: ["error": "\(PostgresStoreError(error))"])
                try? await Task.sleep(for: interval)
            }
        }
    }
}
