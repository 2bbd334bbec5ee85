import Foundation
import Logging
import ServiceLifecycle
import SwitchyardCore
import Synchronization

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
