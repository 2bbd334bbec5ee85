import AsyncHTTPClient
import Logging
import SwitchyardCore
import Testing

@testable import SwitchyardGateway

@Suite(.serialized) struct HealthProberTests {
    @Test func failingProbesOpenTheCircuitAndASucceedingProbeClosesIt() async throws {
        try await GatewayHarness.withGateway { gateway in
            // Every openai provider of the harness seed points at a port where nothing listens.
            let seed = try Seed(
                toml: GatewayHarness.seed(
                    upstreamPort: try GatewayHarness.closedPort(), closedPort: try GatewayHarness.closedPort(),
                    settings: "circuit_breaker_failure_threshold = 2\ncircuit_breaker_timeout_seconds = 0.2"),
                environment: [:])
            let configuration = ConfigurationHolder(EffectiveConfiguration(seed.configuration, environment: [:]))
            let health = HealthRegistry(settings: configuration.current.settings, logger: Logger(label: "test"))
            let prober = HealthProber(configuration: configuration, health: health, client: gateway.client, logger: Logger(label: "test"))

            await prober.probeAll()
            #expect(health.status(of: "up/ok").breakerState == "closed", "one failed probe is not enough")
            await prober.probeAll()
            #expect(health.status(of: "up/ok").breakerState == "open")
            #expect(health.status(of: "sim/m").requests == 0, "mock providers are not probed")
        }
    }

    @Test func aHealthyProviderClosesAnOpenCircuitOnceItsTimeoutPassed() async throws {
        try await GatewayHarness.withGateway { gateway in
            // The harness's upstream answers GET /v1/models; point a provider at it.
            let upstreamURL = gateway.upstreamBaseURL
            let seed = try Seed(
                toml: """
                    [settings]
                    circuit_breaker_failure_threshold = 1
                    circuit_breaker_timeout_seconds = 0.1
                    [providers.up]
                    format = "openai"
                    base_url = "\(upstreamURL)"
                    [models.ok]
                    backends = [ { provider = "up", model = "ok" } ]
                    """, environment: [:])
            let configuration = ConfigurationHolder(EffectiveConfiguration(seed.configuration, environment: [:]))
            let health = HealthRegistry(settings: configuration.current.settings, logger: Logger(label: "test"))
            health.record("up/ok", success: false, latencyMilliseconds: nil)
            #expect(health.status(of: "up/ok").breakerState == "open")
            try await Task.sleep(for: .milliseconds(150))
            let prober = HealthProber(configuration: configuration, health: health, client: gateway.client, logger: Logger(label: "test"))
            await prober.probeAll()
            #expect(health.status(of: "up/ok").breakerState == "closed")
        }
    }
}
