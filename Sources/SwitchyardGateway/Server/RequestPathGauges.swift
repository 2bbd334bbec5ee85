import Synchronization

/// Live counts on the request path: exchanges in flight and timers armed (by client connections,
/// whose timer also serves their exchange, and by stored-response requests). Both fall back to
/// zero when nothing is in flight: a leak shows as a count that stays. And how many exchanges
/// ever started, which tells a quiet gateway from a busy one.
package final class RequestPathGauges: Sendable {
    private let exchanges = Atomic<Int>(0)
    private let started = Atomic<Int>(0)
    private let timers = Atomic<Int>(0)

    package init() {}

    package var liveExchanges: Int { exchanges.load(ordering: .relaxed) }
    package var armedTimers: Int { timers.load(ordering: .relaxed) }
    package var startedExchanges: Int { started.load(ordering: .relaxed) }

    func exchangeStarted() {
        exchanges.wrappingAdd(1, ordering: .relaxed)
        started.wrappingAdd(1, ordering: .relaxed)
    }
    func exchangeEnded() { exchanges.wrappingSubtract(1, ordering: .relaxed) }
    func timerArmed() { timers.wrappingAdd(1, ordering: .relaxed) }
    func timerDisarmed() { timers.wrappingSubtract(1, ordering: .relaxed) }
}
