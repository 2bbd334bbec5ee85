import Foundation
import Logging
import ServiceLifecycle
import SwitchyardCore
import Synchronization

/// Conversation bindings, read from memory on the request path and written through to the
/// repository in the background. Expiry slides: each use extends a binding by the TTL.
package final class SessionTable: Service {
    private let bindings = Mutex<[String: SessionBinding]>([:])
    private let repository: any SessionRepository
    private let logger: Logger
    private let janitorInterval: Duration

    package init(repository: any SessionRepository, logger: Logger, janitorInterval: Duration = .seconds(60)) {
        self.repository = repository
        self.logger = logger
        self.janitorInterval = janitorInterval
    }

    /// Loads the bindings that have not expired.
    package func restore(now: Double = HealthRegistry.now()) async throws {
        let stored = try await repository.loadSessions(now: now)
        bindings.withLock { table in
            for binding in stored { table[binding.sessionID] = binding }
        }
    }

    package func binding(for id: String, now: Double = HealthRegistry.now()) -> SessionBinding? {
        bindings.withLock { table in
            guard let binding = table[id] else { return nil }
            guard binding.expiresAt > now else {
                table[id] = nil
                return nil
            }
            return binding
        }
    }

    /// Binds (or re-binds) a conversation and extends its expiry; persists without making the caller wait.
    package func bind(_ id: String, model: String, version: String, backend: String, ttl: Double, now: Double = HealthRegistry.now()) {
        let binding = SessionBinding(sessionID: id, model: model, version: version, backend: backend, expiresAt: now + ttl)
        let previous = bindings.withLock { table in
            let previous = table[id]
            table[id] = binding
            return previous
        }
        // Unchanged bindings are written again only when half their lifetime has passed.
        if let previous, previous.model == model, previous.version == version, previous.backend == backend,
            previous.expiresAt - now > ttl / 2
        {
            return
        }
        if let previous, previous.backend != backend || previous.version != version {
            logger.notice(
                "session moved",
                metadata: ["session.id": .string(id), "session.from": .string(previous.backend), "session.to": .string(backend)])
        }
        let repository = self.repository
        let logger = self.logger
        Task {
            do {
                try await repository.saveSession(binding)
            } catch {
                logger.error("saving a session failed", metadata: ["session.id": .string(id), "error": "\(error)"])
            }
        }
    }

    package func remove(_ id: String) async throws -> Bool {
        let existed = bindings.withLock { $0.removeValue(forKey: id) != nil }
        try await repository.deleteSession(id: id)
        return existed
    }

    /// Drops expired bindings from memory and storage, every `janitorInterval`.
    package func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            try? await cancelWhenGracefulShutdown { [janitorInterval] in try await Task.sleep(for: janitorInterval) }
            let now = HealthRegistry.now()
            bindings.withLock { $0 = $0.filter { $0.value.expiresAt > now } }
            do {
                try await repository.purgeSessions(expiredBefore: now)
            } catch {
                logger.error("purging sessions failed", metadata: ["error": "\(error)"])
            }
        }
    }
}
