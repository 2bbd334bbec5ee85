import Dispatch
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A thread of its own for work that can wait for a free CPU. On Linux it runs under `SCHED_IDLE`:
/// a thread of normal priority that wakes up (an event loop with a request to serve) takes the CPU
/// from it at once, where it would otherwise wait for the end of the busy thread's time slice.
/// Elsewhere it runs at normal priority.
///
/// `wake()` asks for one more run of `work`; wakes while it runs are folded into that one.
final class IdlePriorityThread: Sendable {
    private struct Exit: ~Copyable {
        var finished = false
        var waiter: CheckedContinuation<Void, Never>?
    }

    /// What the thread and its owner share.
    private final class Signals: Sendable {
        let wakeRequested = Atomic<Bool>(false)
        let stopRequested = Atomic<Bool>(false)
        let idlePriorityTaken = Atomic<Bool>(false)
        let wake = DispatchSemaphore(value: 0)
        let exit = Mutex(Exit())
    }

    private let signals = Signals()

    /// Whether the system gave the thread the idle priority (not where there is none, or if it refused).
    var runsAtIdlePriority: Bool { signals.idlePriorityTaken.load(ordering: .relaxed) }

    init(name: String, work: @escaping @Sendable () -> Void) {
        let started = DispatchSemaphore(value: 0)
        let thread = Thread { [signals] in
            signals.idlePriorityTaken.store(Self.takeIdlePriority(), ordering: .relaxed)
            started.signal()
            while true {
                signals.wake.wait()
                if signals.stopRequested.load(ordering: .acquiring) { break }
                signals.wakeRequested.store(false, ordering: .relaxed)
                work()
            }
            let waiter = signals.exit.withLock { exit in
                exit.finished = true
                return exit.waiter.take()
            }
            waiter?.resume()
        }
        thread.name = name
        thread.start()
        started.wait()
    }

    func wake() {
        if !signals.wakeRequested.exchange(true, ordering: .relaxed) { signals.wake.signal() }
    }

    /// Returns once a run of `work` in progress has ended and the thread has finished.
    func stop() async {
        signals.stopRequested.store(true, ordering: .releasing)
        signals.wake.signal()
        await withCheckedContinuation { continuation in
            let finished = signals.exit.withLock { exit in
                if !exit.finished { exit.waiter = continuation }
                return exit.finished
            }
            if finished { continuation.resume() }
        }
    }

    /// `SCHED_IDLE`, which Swift's Glibc module leaves out (glibc declares it for `_GNU_SOURCE` only).
    static let idlePolicy: Int32 = 5

    /// The calling thread's scheduling policy becomes `SCHED_IDLE` (no privilege needed to lower it).
    private static func takeIdlePriority() -> Bool {
        #if os(Linux)
            var parameters = sched_param(sched_priority: 0)
            return sched_setscheduler(0, idlePolicy, &parameters) == 0
        #else
            return false
        #endif
    }
}
