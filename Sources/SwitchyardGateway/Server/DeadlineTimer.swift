import NIOCore

/// One timer on an event loop, set for the earliest deadline its owner cares about now: moving a
/// deadline later costs nothing (the owner checks when it fires and sets it again), only an earlier
/// one re-arms. Armed timers are counted in the request path's gauges.
struct DeadlineTimer {
    private var scheduled: Scheduled<Void>?
    private var deadline: NIODeadline?
    let gauges: RequestPathGauges

    init(gauges: RequestPathGauges) {
        self.gauges = gauges
    }

    /// Arms for `deadline` unless already armed for it or earlier. `fire` must call `fired()` first.
    mutating func arm(at deadline: NIODeadline, on loop: any EventLoop, fire: @escaping () -> Void) {
        if let armed = self.deadline, armed <= deadline, scheduled != nil { return }
        cancel()
        self.deadline = deadline
        gauges.timerArmed()
        scheduled = loop.assumeIsolatedUnsafeUnchecked().scheduleTask(deadline: deadline, fire)
    }

    mutating func fired() {
        scheduled = nil
        deadline = nil
        gauges.timerDisarmed()
    }

    mutating func cancel() {
        guard let scheduled else { return }
        scheduled.cancel()
        self.scheduled = nil
        deadline = nil
        gauges.timerDisarmed()
    }
}
