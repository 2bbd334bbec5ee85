import Logging
import PostgresNIO
import SwitchyardCore

/// `LISTEN`s for configuration changes on a connection of its own and reports those other instances
/// make; after every (re)connection it reports a change too, since one may have been missed.
package struct PostgresChangeListener: Sendable {
    package let store: PostgresStore
    /// Longest wait between reconnection attempts.
    package var maxBackoff: Duration = .seconds(2)

    package init(store: PostgresStore) {
        self.store = store
    }
}

extension PostgresChangeListener: ConfigurationChangeFeed {
    package func follow(_ changed: @escaping @Sendable () async -> Void) async {
        let logger = store.logger
        var backoff = Duration.milliseconds(100)
        var connectionID = 1_000
        while !Task.isCancelled {
            do {
                connectionID += 1
                let connection = try await PostgresConnection.connect(
                    configuration: try store.location.connectionConfiguration(), id: connectionID, logger: logger)
                defer { Task { try? await connection.close() } }
                try await connection.listen(on: PostgresStore.changeChannel) { notifications in
                    backoff = .milliseconds(100)
                    // Listening now: whatever changed before is read by this reload.
                    await changed()
                    for try await notification in notifications where notification.payload != store.instanceID {
                        await changed()
                    }
                }
            } catch {
                guard !Task.isCancelled else { return }
                logger.warning(
                    "listening for configuration changes failed; reconnecting",
                    metadata: [
                        "error": "\(PostgresStoreError(error))", "retry.after": "\(backoff)",
                    ])
            }
            try? await Task.sleep(for: backoff)
            backoff = min(backoff * 2, maxBackoff)
        }
    }
}
