/// When a backend's circuit opens and closes.
package struct CircuitBreakerPolicy: Sendable, Hashable, Codable {
    /// Consecutive failures that open the circuit.
    package var failureThreshold: Int
    /// Error rate over the last `window` outcomes that opens the circuit (judged once the window is full).
    package var errorRateThreshold: Double
    package var window: Int
    /// How long the circuit stays open before one probe request is let through.
    package var openSeconds: Double

    package init(failureThreshold: Int = 5, errorRateThreshold: Double = 0.5, window: Int = 20, openSeconds: Double = 60) {
        self.failureThreshold = failureThreshold
        self.errorRateThreshold = errorRateThreshold
        self.window = window
        self.openSeconds = openSeconds
    }
}

/// A backend's circuit breaker: closed → open after too many failures → half-open after a timeout,
/// letting one probe through → closed after a success, open again after a failure. Time is passed in.
package struct CircuitBreaker: Sendable, Hashable {
    package enum State: Sendable, Hashable {
        case closed
        case open(until: Double)
        /// One probe may be sent; `probeSince` is when the one in flight started.
        case halfOpen(probeSince: Double?)
    }

    /// A change of state and why, for logs and counters.
    package struct Transition: Sendable, Hashable {
        package var from: String
        package var to: String
        package var reason: String
    }

    package private(set) var state: State = .closed
    package private(set) var consecutiveFailures = 0
    /// The last outcomes, newest last, at most `policy.window`.
    package private(set) var recent: [Bool] = []
    package let policy: CircuitBreakerPolicy

    package init(policy: CircuitBreakerPolicy) {
        self.policy = policy
    }

    /// Whether a request may be sent now, without reserving anything (for routing and explaining).
    package func allows(now: Double) -> Bool {
        switch state {
        case .closed: return true
        case .open(let until): return now >= until
        case .halfOpen(let probeSince): return probeSince.map { now - $0 >= policy.openSeconds } ?? true
        }
    }

    /// Reserves the right to send a request now; in half-open state only one probe at a time gets it.
    package mutating func acquire(now: Double) -> Bool {
        switch state {
        case .closed:
            return true
        case .open(let until) where now >= until:
            state = .halfOpen(probeSince: now)
            return true
        case .halfOpen(nil):
            state = .halfOpen(probeSince: now)
            return true
        case .halfOpen(let since?) where now - since >= policy.openSeconds:
            state = .halfOpen(probeSince: now)  // the earlier probe never reported: try again
            return true
        case .open, .halfOpen:
            return false
        }
    }

    package mutating func record(success: Bool, now: Double) -> Transition? {
        recent.append(success)
        if recent.count > policy.window { recent.removeFirst(recent.count - policy.window) }
        consecutiveFailures = success ? 0 : consecutiveFailures + 1
        let before = name
        switch state {
        case .halfOpen:
            if success {
                state = .closed
                recent.removeAll()
                return Transition(from: before, to: name, reason: "probe succeeded")
            }
            state = .open(until: now + policy.openSeconds)
            return Transition(from: before, to: name, reason: "probe failed")
        case .open:
            return nil
        case .closed:
            guard !success else { return nil }
            if consecutiveFailures >= policy.failureThreshold {
                state = .open(until: now + policy.openSeconds)
                return Transition(from: before, to: name, reason: "\(consecutiveFailures) consecutive failures")
            }
            if recent.count >= policy.window, let rate = errorRate, rate >= policy.errorRateThreshold {
                state = .open(until: now + policy.openSeconds)
                return Transition(
                    from: before, to: name,
                    reason: "error rate \(Int((rate * 100).rounded())) % over the last \(recent.count) requests")
            }
            return nil
        }
    }

    package var errorRate: Double? {
        recent.isEmpty ? nil : Double(recent.filter { !$0 }.count) / Double(recent.count)
    }

    /// `closed`, `open` or `half_open`.
    package var name: String {
        switch state {
        case .closed: return "closed"
        case .open: return "open"
        case .halfOpen: return "half_open"
        }
    }
}
