import Foundation
import Logging
import ServiceLifecycle
import SwitchyardCore
import Synchronization

/// Applies the seed file again when it changes (inotify on its directory, so editors that save by
/// renaming a temporary file are seen; debounced), on `SIGHUP` and on `POST /api/config/reload`.
/// The whole file is validated first: an invalid one applies nothing and the previous configuration
/// keeps serving.
package actor SeedReloader: Service {
    static let debounce = Duration.milliseconds(150)

    private let repository: any ConfigurationRepository
    private let writer: ConfigurationWriter
    private let environment: [String: String]
    private let logger: Logger
    private var status: SeedStatus

    package init(
        status: SeedStatus, repository: any ConfigurationRepository, writer: ConfigurationWriter, environment: [String: String], logger: Logger
    ) {
        self.status = status
        self.repository = repository
        self.writer = writer
        self.environment = environment
        self.logger = logger
    }

    package var current: SeedStatus { status }

    /// Reads and applies the seed file now; returns the status it leaves.
    @discardableResult
    package func reload(trigger: String) async -> SeedStatus {
        guard let path = status.path else { return status }
        let now = Date().timeIntervalSince1970
        status.lastAttemptAt = now
        let bytes: [UInt8]
        do {
            bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        } catch {
            return fail([ConfigurationError(key: "", reason: "cannot read \(path): \(error.localizedDescription)")], trigger: trigger)
        }
        let hash = ContentHash.sha256Hex(bytes)
        if hash == status.lastHash && status.result != .invalid {
            status.result = .unchanged
            status.changed = []
            return status
        }
        let seed: Seed
        do {
            seed = try Seed(toml: String(decoding: bytes, as: UTF8.self), environment: environment)
        } catch {
            return fail(error.errors, trigger: trigger)
        }
        do {
            let report = try await repository.applySeed(seed.configuration)
            try await writer.reload()
            let changedModels = (report.created + report.updated).filter { $0.hasPrefix("model:") }.map { String($0.dropFirst(6)) }
            await writer.startSeedRollouts(models: changedModels)
            status.lastHash = hash
            status.lastAppliedAt = Date().timeIntervalSince1970
            status.errors = []
            status.changed = report.created + report.updated + report.disabled
            status.result = status.changed.isEmpty ? .unchanged : .applied
            logger.notice(
                "seed reloaded",
                metadata: [
                    "seed.path": .string(path), "seed.trigger": .string(trigger), "seed.created": "\(report.created.count)",
                    "seed.updated": "\(report.updated.count)", "seed.disabled": "\(report.disabled.count)",
                ])
        } catch {
            return fail([ConfigurationError(key: "", reason: "applying the seed failed: \(error)")], trigger: trigger)
        }
        return status
    }

    private func fail(_ errors: [ConfigurationError], trigger: String) -> SeedStatus {
        status.result = .invalid
        status.errors = errors
        status.changed = []
        logger.error(
            "seed not applied; the previous configuration keeps serving",
            metadata: [
                "seed.path": .string(status.path ?? ""), "seed.trigger": .string(trigger),
                "seed.errors": .string(errors.map { "\($0)" }.joined(separator: "; ")),
            ])
        return status
    }

    /// Watches the file and `SIGHUP` until graceful shutdown.
    package func run() async throws {
        guard let path = status.path else {
            try? await gracefulShutdown()
            return
        }
        let (triggers, continuation) = AsyncStream.makeStream(of: String.self, bufferingPolicy: .bufferingNewest(1))
        let watcher = FileWatcher(path: path) { continuation.yield("file") }
        status.watching = watcher != nil
        let hangup = HangupSignal { continuation.yield("SIGHUP") }
        defer {
            watcher?.stop()
            hangup.stop()
        }
        for await trigger in triggers.cancelOnGracefulShutdown() {
            // An editor's save is several events (truncate, write, rename): wait for the file to settle.
            try? await Task.sleep(for: Self.debounce)
            await reload(trigger: trigger)
        }
    }
}
