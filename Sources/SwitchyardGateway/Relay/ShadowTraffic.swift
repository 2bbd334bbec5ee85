import Prometheus
import SwitchyardCore
import Synchronization

/// Bounds and counts the shadow copies of every model: at most `max_in_flight` open at once per
/// model; a request over it is not copied. Shared by every event loop.
final class ShadowTraffic: Sendable {
    /// Why a request in the shadow's share was not copied, or that it was.
    enum Result: String, Sendable {
        case sent
        /// `max_in_flight` copies were already open.
        case droppedInFlight = "dropped_in_flight"
        /// No backend of the shadow version was healthy.
        case droppedNoBackend = "dropped_no_backend"
    }

    private struct Key: Hashable {
        var model: String
        var version: String
        var result: Result
    }

    private let inFlight = Mutex<[String: Int]>([:])
    private let counters = Mutex<[Key: (counter: Counter, count: Int)]>([:])
    private let registry: PrometheusCollectorRegistry

    init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
    }

    /// Takes a slot for a copy of a `model` request, or counts it as dropped when all `limit` are taken.
    func acquire(model: String, version: String, limit: Int) -> Bool {
        let taken = inFlight.withLock { open in
            let current = open[model, default: 0]
            guard current < limit else { return false }
            open[model] = current + 1
            return true
        }
        count(model: model, version: version, taken ? .sent : .droppedInFlight)
        return taken
    }

    func release(model: String) {
        inFlight.withLock { open in
            let left = open[model, default: 1] - 1
            open[model] = left > 0 ? left : nil
        }
    }

    func count(model: String, version: String, _ result: Result) {
        counters.withLock { counters in
            let key = Key(model: model, version: version, result: result)
            if counters[key] == nil {
                let counter = registry.makeCounter(
                    descriptor: MetricNameDescriptor(
                        metricName: "switchyard_shadow_copies", unitName: "total",
                        helpText: "Requests in a shadow's share: copied (sent) or not (dropped, and why)."),
                    labels: [("model", model), ("version", version), ("result", result.rawValue)])
                counters[key] = (counter, 0)
            }
            counters[key]?.counter.increment()
            counters[key]?.count += 1
        }
    }

    /// Copies open now for `model`.
    func open(model: String) -> Int {
        inFlight.withLock { $0[model, default: 0] }
    }

    /// Requests of `model`'s shadow `version` by result, since the gateway started.
    func counts(model: String, version: String) -> [Result: Int] {
        counters.withLock { counters in
            var counts: [Result: Int] = [:]
            for (key, value) in counters where key.model == model && key.version == version { counts[key.result] = value.count }
            return counts
        }
    }
}

/// The two answers to one shadowed request, on the client connection's event loop: the shadow's
/// outcome is recorded once both have ended, with how its answer compares with the primary's.
final class ShadowPair {
    private let sink: any OutcomeSink
    private let keepExamples: Int
    private var primaryEnded = false
    private var primaryText: String?
    private var shadow: (event: OutcomeEvent, text: String?)?

    init(sink: any OutcomeSink, keepExamples: Int) {
        self.sink = sink
        self.keepExamples = keepExamples
    }

    /// The primary ended; `text` is its answer's text when it answered in full.
    func primaryFinished(text: String?) {
        guard !primaryEnded else { return }
        primaryEnded = true
        primaryText = text
        recordWhenBothEnded()
    }

    func shadowFinished(_ event: OutcomeEvent, text: String?) {
        shadow = (event, text)
        recordWhenBothEnded()
    }

    private func recordWhenBothEnded() {
        guard primaryEnded, let (ended, text) = shadow else { return }
        shadow = nil
        var event = ended
        if let primary = primaryText, let answer = text {
            event.agreement = ShadowAgreement(primary: primary, shadow: answer, keepExamples: keepExamples)
        }
        sink.record(event)
    }
}
