import Synchronization

/// A result that arrives later, which callers can wait for with a time limit without cancelling
/// the work that produces it (awaiting a task's value cannot be given up on).
final class PendingResult<Value: Sendable>: Sendable {
    private struct State {
        var result: Result<Value, any Error>?
        var waiters: [Int: CheckedContinuation<Result<Value, any Error>?, Never>] = [:]
        var nextWaiter = 0
    }

    private let state = Mutex(State())

    func fulfill(_ result: Result<Value, any Error>) {
        let waiters = state.withLock { state -> [CheckedContinuation<Result<Value, any Error>?, Never>] in
            guard state.result == nil else { return [] }
            state.result = result
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume(returning: result) }
    }

    /// The result, or `nil` when it has not arrived within `limit`.
    func wait(upTo limit: Duration) async -> Result<Value, any Error>? {
        await withCheckedContinuation { continuation in
            let id = state.withLock { state -> Int? in
                if state.result != nil { return nil }
                let id = state.nextWaiter
                state.nextWaiter += 1
                state.waiters[id] = continuation
                return id
            }
            guard let id else {
                continuation.resume(returning: state.withLock { $0.result })
                return
            }
            Task {
                try? await Task.sleep(for: limit)
                let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
                waiter?.resume(returning: nil)
            }
        }
    }
}
