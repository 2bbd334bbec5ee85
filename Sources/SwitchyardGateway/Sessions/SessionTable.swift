import Foundation
import Logging
import ServiceLifecycle
import SwitchyardCore
import Synchronization

/// Conversation bindings, read from memory on the request path and written through to the
/// repository in the background, in order. Expiry slides: each use extends a binding by the TTL.
/// With several instances on one database, the bindings the others make arrive through `apply`.
package final class SessionTable: Service {
    /// Longer conversation ids are not bound.
    package static let maxIDLength = 256

    private enum Operation: Sendable {
        case save(SessionBinding)
        case delete(String)
    }

    private struct Entry {
        var binding: SessionBinding
        /// The expiry last written to the repository.
        var persistedExpiresAt: Double
    }

    private let bindings = Mutex<[String: Entry]>([:])
    private let repository: any SessionRepository
    private let logger: Logger
    private let janitorInterval: Duration
    private let operations: AsyncStream<Operation>
    private let operationSink: AsyncStream<Operation>.Continuation

    package init(repository: any SessionRepository, logger: Logger, janitorInterval: Duration = .seconds(60)) {
        self.repository = repository
        self.logger = logger
        self.janitorInterval = janitorInterval
        (operations, operationSink) = AsyncStream.makeStream(of: Operation.self)
    }

    private static func key(user: String, session: String) -> String {
        user + "\u{0}" + session
    }

    /// Loads the bindings that have not expired.
    package func restore(now: Double = HealthRegistry.now()) async throws {
        let stored = try await repository.loadSessions(now: now)
        bindings.withLock { table in
            for binding in stored {
                table[Self.key(user: binding.userID, session: binding.sessionID)] = Entry(binding: binding, persistedExpiresAt: binding.expiresAt)
            }
        }
    }

    /// The live binding of `user`'s conversation `id`.
    package func binding(for id: String, user: String, now: Double = HealthRegistry.now()) -> SessionBinding? {
        let key = Self.key(user: user, session: id)
        return bindings.withLock { table in
            guard let entry = table[key] else { return nil }
            guard entry.binding.expiresAt > now else {
                table[key] = nil
                return nil
            }
            return entry.binding
        }
    }

    /// Live bindings with this conversation id, whoever they belong to (for the admin API).
    package func bindings(withID id: String, now: Double = HealthRegistry.now()) -> [SessionBinding] {
        bindings.withLock { table in
            table.values.map(\.binding).filter { $0.sessionID == id && $0.expiresAt > now }.sorted { $0.userID < $1.userID }
        }
    }

    /// Binds (or re-binds) a conversation and extends its expiry; persists without making the caller wait.
    package func bind(
        _ id: String, user: String, model: String, version: String, backend: String, ttl: Double, now: Double = HealthRegistry.now()
    ) {
        guard id.utf8.count <= Self.maxIDLength else { return }
        let binding = SessionBinding(userID: user, sessionID: id, model: model, version: version, backend: backend, expiresAt: now + ttl)
        // An unchanged binding is written again only once a tenth of its stored lifetime has passed.
        let (previous, write) = bindings.withLock { table -> (SessionBinding?, Bool) in
            let key = Self.key(user: user, session: id)
            let previous = table[key]
            let unchanged =
                previous.map { $0.binding.model == model && $0.binding.version == version && $0.binding.backend == backend } ?? false
            let write = !unchanged || previous!.persistedExpiresAt - now < ttl * 0.9
            table[key] = Entry(binding: binding, persistedExpiresAt: write ? binding.expiresAt : previous!.persistedExpiresAt)
            return (previous?.binding, write)
        }
        guard write else { return }
        if let previous, previous.backend != backend || previous.version != version {
            logger.notice(
                "session moved",
                metadata: ["session.id": .string(id), "session.from": .string(previous.backend), "session.to": .string(backend)])
        }
        operationSink.yield(.save(binding))
    }

    /// Takes in a binding another instance made or removed (it is in the repository already), or
    /// reads every binding again after the feed may have missed some.
    package func apply(_ change: SessionChange, now: Double = HealthRegistry.now()) async {
        switch change {
        case .saved(let binding):
            bindings.withLock { table in
                let key = Self.key(user: binding.userID, session: binding.sessionID)
                guard binding.expiresAt > now, (table[key]?.binding.expiresAt ?? 0) <= binding.expiresAt else { return }
                table[key] = Entry(binding: binding, persistedExpiresAt: binding.expiresAt)
            }
        case .deleted(let id):
            bindings.withLock { table in table = table.filter { $0.value.binding.sessionID != id } }
        case .reload:
            do {
                try await restore(now: now)
            } catch {
                logger.error("reading the sessions again failed", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Removes every binding with this conversation id; true when there was one.
    package func remove(_ id: String) -> Bool {
        let existed = bindings.withLock { table in
            let before = table.count
            table = table.filter { $0.value.binding.sessionID != id }
            return table.count != before
        }
        operationSink.yield(.delete(id))
        return existed
    }

    /// Writes bindings in the order they changed and drops expired ones every `janitorInterval`;
    /// on graceful shutdown, writes what is pending and stops.
    package func run() async throws {
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await self.persist() }
                group.addTask { await self.purgeExpired() }
            }
        } onGracefulShutdown: {
            self.operationSink.finish()
        }
    }

    private func persist() async {
        for await operation in operations {
            do {
                switch operation {
                case .save(let binding): try await repository.saveSession(binding)
                case .delete(let id): try await repository.deleteSession(id: id)
                }
            } catch {
                logger.error("writing a session failed", metadata: ["error": "\(error)"])
            }
        }
    }

    private func purgeExpired() async {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            try? await cancelWhenGracefulShutdown { [janitorInterval] in try await Task.sleep(for: janitorInterval) }
            let now = HealthRegistry.now()
            bindings.withLock { $0 = $0.filter { $0.value.binding.expiresAt > now } }
            do {
                try await repository.purgeSessions(expiredBefore: now)
            } catch {
                logger.error("purging sessions failed", metadata: ["error": "\(error)"])
            }
        }
    }
}
