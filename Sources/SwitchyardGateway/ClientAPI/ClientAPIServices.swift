import Logging
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
    let limits: ConnectionLimits
    let gauges: RequestPathGauges
    let logger: Logger

    init(
        configuration: ConfigurationHolder, routing: LiveRouter, health: HealthRegistry, sessions: SessionTable, rateLimits: RateLimits,
        budgets: Budgets, sink: any OutcomeSink, exportsTraces: Bool = false, adapters: UpstreamAdapters, limits: ConnectionLimits,
        gauges: RequestPathGauges, logger: Logger
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
        self.limits = limits
        self.gauges = gauges
        self.logger = logger
    }
}
