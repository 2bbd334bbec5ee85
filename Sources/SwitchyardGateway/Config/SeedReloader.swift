import Foundation
import Logging
import ServiceLifecycle
import SwitchyardCore
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Where the serving seed came from and how its last application went (`GET /api/config/status`).
package struct SeedStatus: Sendable {
    package enum Result: String, Sendable {
        case applied, unchanged, invalid, never
    }

    package var path: String?
    package var watching = false
    package var lastAttemptAt: Double?
    package var lastAppliedAt: Double?
    /// SHA-256 of the file last applied.
    package var lastHash: String?
    package var result: Result = .never
    package var errors: [ConfigurationError] = []
    /// Objects the last application created, updated or disabled.
    package var changed: [String] = []

    package init(path: String?, appliedHash: String? = nil, appliedAt: Double? = nil, changed: [String] = []) {
        self.path = path
        lastHash = appliedHash
        lastAppliedAt = appliedAt
        lastAttemptAt = appliedAt
        result = appliedAt == nil ? .never : .applied
        self.changed = changed
    }
}

/// Applies the seed file again when it changes (inotify on its directory, so editors that save by
/// renaming a temporary file are seen; debounced), on `SIGHUP` and on `POST /api/config/reload`.
/// The whole file is validated first: an invalid one applies nothing and the previous configuration
/// keeps serving.
package actor SeedReloader: Service {
    static let debounce = Duration.milliseconds(150)

    private let repository: any ConfigurationRepository
    private let releases: ReleaseService
    private let environment: [String: String]
    private let logger: Logger
    private var status: SeedStatus

    package init(
        status: SeedStatus, repository: any ConfigurationRepository, releases: ReleaseService, environment: [String: String], logger: Logger
    ) {
        self.status = status
        self.repository = repository
        self.releases = releases
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
            try await releases.reload()
            let changedModels = (report.created + report.updated).filter { $0.hasPrefix("model:") }.map { String($0.dropFirst(6)) }
            await releases.startSeedRollouts(models: changedModels)
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

/// Calls `onChange` whenever a file is written, replaced or created: inotify on its directory,
/// read by a thread of its own.
final class FileWatcher: Sendable {
    private final class StopFlag: Sendable {
        let value = Atomic<Bool>(false)
    }

    private let stopped = StopFlag()

    init?(path: String, onChange: @escaping @Sendable () -> Void) {
        #if canImport(Glibc)
            let url = URL(fileURLWithPath: path)
            let directory = url.deletingLastPathComponent().path
            let name = url.lastPathComponent
            let descriptor = inotify_init1(Int32(IN_CLOEXEC))
            guard descriptor >= 0 else { return nil }
            let mask = UInt32(IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_MODIFY)
            guard inotify_add_watch(descriptor, directory.isEmpty ? "." : directory, mask) >= 0 else {
                close(descriptor)
                return nil
            }
            let stopped = self.stopped
            let thread = Thread {
                var buffer = [UInt8](repeating: 0, count: 16 * 1024)
                let headerSize = MemoryLayout<inotify_event>.size
                while !stopped.value.load(ordering: .relaxed) {
                    var waiting = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
                    guard poll(&waiting, 1, 200) > 0 else { continue }
                    let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
                    guard count > 0 else { continue }
                    var offset = 0
                    var matched = false
                    buffer.withUnsafeBytes { bytes in
                        while offset + headerSize <= count {
                            let length = Int(bytes.load(fromByteOffset: offset + 12, as: UInt32.self))
                            let nameBytes = bytes[(offset + headerSize)..<min(count, offset + headerSize + length)]
                            let eventName = String(decoding: nameBytes.prefix { $0 != 0 }, as: UTF8.self)
                            if eventName == name { matched = true }
                            offset += headerSize + length
                        }
                    }
                    if matched { onChange() }
                }
                close(descriptor)
            }
            thread.name = "switchyard-seed-watcher"
            thread.start()
        #else
            return nil
        #endif
    }

    func stop() {
        stopped.value.store(true, ordering: .relaxed)
    }
}

/// Calls `onSignal` on every `SIGHUP` (which then no longer ends the process).
final class HangupSignal {
    private let source: any DispatchSourceSignal

    init(onSignal: @escaping @Sendable () -> Void) {
        signal(SIGHUP, SIG_IGN)
        source = DispatchSource.makeSignalSource(signal: SIGHUP, queue: .global())
        source.setEventHandler(handler: onSignal)
        source.resume()
    }

    func stop() {
        source.cancel()
    }
}
