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
    private struct State: ~Copyable {
        /// `DispatchTime` uptime in nanoseconds when the run in progress began.
        var runStarted: UInt64?
        var runWaiters: [CheckedContinuation<Void, Never>] = []
        var finished = false
        var exitWaiter: CheckedContinuation<Void, Never>?
    }

    /// What the thread and its owner share.
    private final class Signals: Sendable {
        let wakeRequested = Atomic<Bool>(false)
        let stopRequested = Atomic<Bool>(false)
        let idlePriorityTaken = Atomic<Bool>(false)
        let wake = DispatchSemaphore(value: 0)
        let state = Mutex(State())
    }

    private let signals = Signals()

    /// Whether the system gave the thread the idle priority (not where there is none, or if it refused);
    /// false until the thread has started.
    var runsAtIdlePriority: Bool { signals.idlePriorityTaken.load(ordering: .relaxed) }

    init(name: String, work: @escaping @Sendable () -> Void) {
        let thread = Thread { [signals] in
            signals.idlePriorityTaken.store(Self.takeIdlePriority(), ordering: .relaxed)
            while true {
                signals.wake.wait()
                if signals.stopRequested.load(ordering: .acquiring) { break }
                signals.wakeRequested.store(false, ordering: .relaxed)
                signals.state.withLock { $0.runStarted = DispatchTime.now().uptimeNanoseconds }
                work()
                let waiters = signals.state.withLock { state in
                    state.runStarted = nil
                    defer { state.runWaiters = [] }
                    return state.runWaiters
                }
                for waiter in waiters { waiter.resume() }
            }
            let waiter = signals.state.withLock { state in
                state.finished = true
                return state.exitWaiter.take()
            }
            waiter?.resume()
        }
        thread.name = name
        thread.start()
    }

    func wake() {
        if !signals.wakeRequested.exchange(true, ordering: .relaxed) { signals.wake.signal() }
    }

    /// Whether a run of `work` has been going on for `nanoseconds` or longer.
    func isRunning(forAtLeast nanoseconds: UInt64) -> Bool {
        guard let started = signals.state.withLock({ $0.runStarted }) else { return false }
        return DispatchTime.now().uptimeNanoseconds - started >= nanoseconds
    }

    /// Returns once the run of `work` in progress, if any, has ended.
    func waitForCurrentRun() async {
        await withCheckedContinuation { continuation in
            let running = signals.state.withLock { state in
                if state.runStarted != nil { state.runWaiters.append(continuation) }
                return state.runStarted != nil
            }
            if !running { continuation.resume() }
        }
    }

    /// Returns once a run of `work` in progress has ended and the thread has finished.
    func stop() async {
        signals.stopRequested.store(true, ordering: .releasing)
        signals.wake.signal()
        await withCheckedContinuation { continuation in
            let finished = signals.state.withLock { state in
                if !state.finished { state.exitWaiter = continuation }
                return state.finished
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
