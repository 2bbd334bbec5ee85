import Logging
import PostgresNIO
import SwitchyardCore

/// `LISTEN`s on a connection of its own for the changes other instances make: configuration
/// changes, and conversation bindings. After every (re)connection it reports a reload, since a
/// notification may have been missed while not listening.
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
        await listen(on: PostgresStore.changeChannel) { payload in
            if payload == nil || payload != store.instanceID { await changed() }
        }
    }
}

extension PostgresChangeListener: SessionChangeFeed {
    package func follow(_ changed: @escaping @Sendable (SessionChange) async -> Void) async {
        await listen(on: PostgresStore.sessionChannel) { payload in
            guard let payload else { return await changed(.reload) }
            guard let notice = try? PostgresStore.decode(SessionNotice.self, payload), notice.instance != store.instanceID else { return }
            if let binding = notice.saved {
                await changed(.saved(binding))
            } else if let id = notice.deleted {
                await changed(.deleted(id))
            }
        }
    }
}

extension PostgresChangeListener {
    /// Calls `received` with each notification's payload on `channel`, and with `nil` after every (re)connection.
    /// A watchdog checks the connection every second: a server that went away without closing the
    /// connection (a crash, a network cut) would otherwise leave it listening to nothing.
    private func listen(on channel: String, _ received: @escaping @Sendable (String?) async -> Void) async {
        let logger = store.logger
        var backoff = Duration.milliseconds(100)
        var connectionID = 1_000
        while !Task.isCancelled {
            do {
                connectionID += 1
                let connection = try await store.connectDedicated(id: connectionID)
                defer { Task { try? await connection.close() } }
                let connected = ContinuousClock.now
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        try await connection.listen(on: channel) { notifications in
                            // Listening now: whatever changed before is read by this reload.
                            await received(nil)
                            for try await notification in notifications {
                                await received(notification.payload)
                            }
                        }
                    }
                    group.addTask {
                        while true {
                            try await Task.sleep(for: .seconds(1))
                            try connection.checkOpen()
                            try await PostgresStore.withDeadline(.seconds(3)) { try await connection.run("SELECT 1", logger: logger) }
                        }
                    }
                    defer { group.cancelAll() }
                    do {
                        try await group.next()
                    } catch {
                        try? await connection.close()
                        throw error
                    }
                }
                if ContinuousClock.now - connected > .seconds(5) { backoff = .milliseconds(100) }
            } catch {
                guard !Task.isCancelled else { return }
                logger.warning(
                    "listening for changes failed; reconnecting",
                    metadata: ["channel": .string(channel), "error": "\(PostgresStoreError(error))", "retry.after": "\(backoff)"])
            }
            try? await Task.sleep(for: backoff)
            backoff = min(backoff * 2, maxBackoff)
        }
    }
}
