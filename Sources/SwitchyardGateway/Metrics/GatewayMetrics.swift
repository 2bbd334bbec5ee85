import Prometheus
import SwitchyardCore
import Synchronization

/// Switchyard's Prometheus metrics, in one place. Request metrics are recorded as outcomes pass
/// (labels: model, version, provider, backend, status class — never users or request ids); the
/// state gauges (backend up, circuit state, release weights, rollout state) are set when scraped.
package final class GatewayMetrics: OutcomeSink {
    /// Seconds; the OpenTelemetry GenAI buckets for request duration.
    static let durationBuckets: [Double] = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92]
    static let ttftBuckets: [Double] = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10]
    static let tokenBuckets: [Double] = [1, 4, 16, 64, 256, 1_024, 4_096, 16_384, 65_536, 262_144, 1_048_576, 4_194_304, 16_777_216, 67_108_864]

    package let registry: PrometheusCollectorRegistry
    private let next: any OutcomeSink

    /// The handles of one label set, made once: the registry's own lookup takes a lock and a hash per call.
    private struct RequestSeries {
        var requests: Counter
        var duration: ValueHistogram
        var ttft: ValueHistogram
        var inputTokens: ValueHistogram
        var cachedInputTokens: ValueHistogram
        var outputTokens: ValueHistogram
        var cost: Counter
        var failovers: Counter
    }

    private struct SeriesKey: Hashable {
        var model: String
        var version: String
        var backend: String
        var status: Int
        var shadow: Bool
    }

    private let series = Mutex<[SeriesKey: RequestSeries]>([:])
    /// The rollout state gauges of the last scrape, by rollout id: one replaced by a newer rollout is
    /// unregistered, so series do not pile up with every rollout run.
    private let rolloutGauges = Mutex<[String: Gauge]>([:])

    package init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry(), forwardingTo next: any OutcomeSink) {
        self.registry = registry
        self.next = next
    }

    static func descriptor(_ name: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: unit, helpText: help)
    }

    package func record(_ event: OutcomeEvent) {
        next.record(event)
        guard !event.version.isEmpty else { return }
        let statusGroup = event.status == 499 ? 499 : event.status / 100
        let key = SeriesKey(model: event.model, version: event.version, backend: event.backend, status: statusGroup, shadow: event.shadow)
        let handles = series.withLock { series in
            if let existing = series[key] { return existing }
            let provider = event.backend.split(separator: "/", maxSplits: 1).first.map(String.init) ?? ""
            let statusClass = event.status == 499 ? "client_closed" : "\(statusGroup)xx"
            let labels = [
                ("model", event.model), ("version", event.version), ("provider", provider), ("backend", event.backend),
                ("status_class", statusClass), ("role", event.shadow ? "shadow" : "primary"),
            ]
            let made = RequestSeries(
                requests: registry.makeCounter(
                    descriptor: Self.descriptor("switchyard_requests", "total", "Requests relayed, by outcome."), labels: labels),
                duration: registry.makeValueHistogram(
                    descriptor: Self.descriptor("gen_ai_server_request", "duration_seconds", "Time from request to last byte."),
                    labels: labels, buckets: Self.durationBuckets),
                ttft: registry.makeValueHistogram(
                    descriptor: Self.descriptor("gen_ai_server_time_to_first_token", "seconds", "Time to the first byte of the answer."),
                    labels: labels, buckets: Self.ttftBuckets),
                inputTokens: registry.makeValueHistogram(
                    descriptor: Self.descriptor("gen_ai_client_token", "usage", "Tokens per request."),
                    labels: labels + [("gen_ai_token_type", "input")], buckets: Self.tokenBuckets),
                cachedInputTokens: registry.makeValueHistogram(
                    descriptor: Self.descriptor("gen_ai_client_token", "usage", "Tokens per request."),
                    labels: labels + [("gen_ai_token_type", "cached_input")], buckets: Self.tokenBuckets),
                outputTokens: registry.makeValueHistogram(
                    descriptor: Self.descriptor("gen_ai_client_token", "usage", "Tokens per request."),
                    labels: labels + [("gen_ai_token_type", "output")], buckets: Self.tokenBuckets),
                cost: registry.makeCounter(descriptor: Self.descriptor("switchyard_cost_usd", "total", "Cost in USD."), labels: labels),
                failovers: registry.makeCounter(
                    descriptor: Self.descriptor("switchyard_failovers", "total", "Further backends tried after a failed attempt."),
                    labels: labels))
            series[key] = made
            return made
        }
        handles.requests.increment()
        handles.duration.record(event.latencyMilliseconds / 1000)
        if let ttft = event.timeToFirstTokenMilliseconds { handles.ttft.record(ttft / 1000) }
        if event.inputTokens > 0 { handles.inputTokens.record(Double(event.inputTokens)) }
        if event.cachedInputTokens > 0 { handles.cachedInputTokens.record(Double(event.cachedInputTokens)) }
        if event.outputTokens > 0 { handles.outputTokens.record(Double(event.outputTokens)) }
        if event.costUSD > 0 { handles.cost.increment(by: event.costUSD) }
        if event.failovers > 0 { handles.failovers.increment(by: Int64(event.failovers)) }
    }

    /// Sets the state gauges from the current configuration, health and rollouts, then renders
    /// everything in the Prometheus text format.
    package func scrape(
        configuration: EffectiveConfiguration, health: HealthRegistry, rollouts: [Rollout], connections: (open: Int, limit: Int) = (0, 0),
        requestsInFlight: Int = 0, budgets: (near: Int, over: Int) = (0, 0)
    ) -> [UInt8] {
        registry.makeGauge(
            descriptor: Self.descriptor("switchyard_users_near_budget", "", "Users who spent 80 % or more of a daily or monthly budget.")
        ).set(to: Double(budgets.near))
        registry.makeGauge(
            descriptor: Self.descriptor("switchyard_users_over_budget", "", "Users whose budget is spent: their requests are refused.")
        ).set(to: Double(budgets.over))
        registry.makeGauge(descriptor: Self.descriptor("switchyard_client_connections", "open", "Client connections open now.")).set(
            to: Double(connections.open))
        registry.makeGauge(
            descriptor: Self.descriptor("switchyard_client_connections", "limit", "Client connections allowed; more are closed at once.")
        ).set(to: Double(connections.limit))
        registry.makeGauge(descriptor: Self.descriptor("switchyard_requests", "in_flight", "Client API requests being served now.")).set(
            to: Double(requestsInFlight))
        var seenBackends: Set<String> = []
        for name in configuration.modelNames {
            guard let model = configuration.models[name] else { continue }
            for version in model.versions {
                registry.makeGauge(
                    descriptor: Self.descriptor("switchyard_release", "weight", "Share of the model's traffic, percent."),
                    labels: [("model", name), ("version", version.name)]
                ).set(to: Double(version.weightBasisPoints) / 100)
                for backend in version.backends where seenBackends.insert(backend.label).inserted {
                    let status = health.status(of: backend.label)
                    let labels = [("provider", backend.provider.id), ("backend", backend.label)]
                    registry.makeGauge(
                        descriptor: Self.descriptor("switchyard_backend", "up", "1 when the backend can take requests."), labels: labels
                    )
                    .set(to: status.isHealthy ? 1 : 0)
                    let state: Double = status.breakerState == "open" ? 2 : status.breakerState == "half_open" ? 1 : 0
                    registry.makeGauge(
                        descriptor: Self.descriptor("switchyard_circuit", "state", "0 closed, 1 half open, 2 open."), labels: labels
                    ).set(to: state)
                }
            }
        }
        var gauges: [String: Gauge] = [:]
        for rollout in rollouts {
            let value: Double
            switch rollout.state {
            case .progressing: value = 0
            case .paused: value = 1
            case .promoted: value = 2
            case .aborted: value = 3
            }
            let gauge = registry.makeGauge(
                descriptor: Self.descriptor("switchyard_rollout", "state", "0 progressing, 1 paused, 2 promoted, 3 aborted."),
                labels: [("model", rollout.model), ("rollout", rollout.id), ("canary", rollout.canary)])
            gauge.set(to: value)
            gauges[rollout.id] = gauge
        }
        let replaced = rolloutGauges.withLock { previous in
            defer { previous = gauges }
            return previous.filter { gauges[$0.key] == nil }.map(\.value)
        }
        for gauge in replaced { registry.unregisterGauge(gauge) }
        return registry.emitToBuffer()
    }
}
