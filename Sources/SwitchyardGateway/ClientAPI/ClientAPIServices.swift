import Logging
import Prometheus
import SwitchyardCore

/// What the client API's request path needs, built once by the composition root and shared by every
/// connection.
final class ClientAPIServices: Sendable {
    let configuration: ConfigurationHolder
    let routing: LiveRouter
    let health: HealthRegistry
    let sessions: SessionTable
    let rateLimits: RateLimits
    let budgets: Budgets
    /// Where every outcome goes, after its answer is written.
    let sink: any OutcomeSink
    /// Whether outcomes carry their spans (an OTLP endpoint is set); without it no span is built.
    let exportsTraces: Bool
    let adapters: UpstreamAdapters
    let shadows: ShadowTraffic
    let limits: ConnectionLimits
    let gauges: RequestPathGauges
    /// SSE comments sent to keep a quiet stream open.
    let keepAlivesSent: Counter
    let logger: Logger

    init(
        configuration: ConfigurationHolder, routing: LiveRouter, health: HealthRegistry, sessions: SessionTable, rateLimits: RateLimits,
        budgets: Budgets, sink: any OutcomeSink, exportsTraces: Bool = false, adapters: UpstreamAdapters, limits: ConnectionLimits,
        gauges: RequestPathGauges, registry: PrometheusCollectorRegistry, logger: Logger
    ) {
        self.configuration = configuration
        self.routing = routing
        self.health = health
        self.sessions = sessions
        self.rateLimits = rateLimits
        self.budgets = budgets
        self.sink = sink
        self.exportsTraces = exportsTraces
        self.adapters = adapters
        shadows = ShadowTraffic(registry: registry)
        self.limits = limits
        self.gauges = gauges
        keepAlivesSent = registry.makeCounter(
            descriptor: MetricNameDescriptor(
                metricName: "switchyard_sse_keepalives", unitName: "total",
                helpText: "Keep-alive comments sent on streams while the upstream was quiet."))
        self.logger = logger
    }
}
