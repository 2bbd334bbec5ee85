import AsyncHTTPClient
import Foundation
import NIOCore
import SwitchyardCore
import SwitchyardGateway

/// The commands that talk to providers from the command line: `validate --online`,
/// `health-check` and `test-backend`. Each returns the lines to print and whether all went well.
package enum ProviderChecks {
    /// Asks each provider of the seed for its models; a line per provider, and a warning per backend
    /// whose model it does not offer. Warnings only: the seed itself was valid.
    package static func offeredModels(_ seed: Seed) async throws -> [String] {
        let configuration = EffectiveConfiguration(seed.configuration, environment: ProcessInfo.processInfo.environment)
        let client = upstreamClient(configuration.settings)
        var lines: [String] = []
        for provider in ModelDiscovery.providers(in: configuration).values.sorted(by: { $0.id < $1.id }) {
            switch await ModelDiscovery.fetch(provider, configuration: configuration, client: client) {
            case .success(let offered):
                let missing = ModelDiscovery.missing(in: configuration, provider: provider.id, offered: offered)
                for (model, version, backend) in missing {
                    let name = provider.spec.format == .azure ? backend.deployment ?? backend.upstreamModel : backend.upstreamModel
                    lines.append("warning: models.\(model) version \(version): provider \(provider.id) does not offer \"\(name)\"")
                }
                if missing.isEmpty { lines.append("\(provider.id): \(offered.count) models offered; every backend's model is among them") }
            case .failure(let error):
                lines.append("warning: \(provider.id): cannot list models: \(error.message)")
            }
        }
        try await client.shutdown()
        return lines
    }

    /// Runs the health check of each provider that serves a model (or only `only`) once: a line
    /// per provider with its mode, result and time.
    package static func healthChecks(config: String, only: String?) async throws -> (lines: [String], allPassed: Bool) {
        let configuration = try SeedFile.effectiveConfiguration(path: config)
        var providers: [String: EffectiveConfiguration.Provider] = [:]
        for model in configuration.models.values {
            for version in model.versions {
                for backend in version.backends { providers[backend.provider.id] = backend.provider }
            }
        }
        if let only {
            guard let provider = providers[only] else { throw CommandFailure("no enabled provider '\(only)' serves a model in \(config)") }
            providers = [only: provider]
        }
        let client = upstreamClient(configuration.settings)
        var lines: [String] = []
        var allPassed = true
        for (id, provider) in providers.sorted(by: { $0.key < $1.key }) {
            let started = ContinuousClock.now
            let problem: String? =
                provider.spec.healthCheck == .none
                ? nil : await HealthProber.check(provider, timeout: configuration.settings.healthCheckTimeoutSeconds, client: client)
            let elapsed = ContinuousClock.now - started
            let mode = provider.spec.format == .mock ? "mock (simulated)" : provider.spec.healthCheck.rawValue
            lines.append("\(id)\t\(mode)\t\(problem.map { "FAILED: \($0)" } ?? "ok")\t\(elapsed.formatted(.units(allowed: [.milliseconds])))")
            allPassed = allPassed && problem == nil
        }
        try await client.shutdown()
        return (lines, allPassed)
    }

    /// Sends one small chat request to `model` at `providerID`: the status and time, then the answer's text.
    package static func testBackend(config: String, providerID: String, model: String, message: String) async throws -> (
        lines: [String], answered: Bool
    ) {
        let seed = try SeedFile.load(path: config)
        let settings = seed.configuration.settings
        guard let spec = seed.configuration.providers.first(where: { $0.id == providerID }) else {
            throw CommandFailure("no provider '\(providerID)' in \(config)")
        }
        let provider = EffectiveConfiguration.Provider(spec: spec, environment: ProcessInfo.processInfo.environment)
        let backend = EffectiveConfiguration.Backend(
            provider: provider, upstreamModel: model, weight: 1, priority: 0, tags: [], mock: MockSettings(), label: "\(providerID)/\(model)")
        let body: JSONValue = .object([
            "model": .string(model), "max_tokens": 16, "messages": .array([.object(["role": "user", "content": .string(message)])]),
        ])
        let started = ContinuousClock.now
        do {
            let answer = try await UpstreamAdapters.sendOnce(body, endpoint: .chatCompletions, to: backend, settings: settings)
            let elapsed = ContinuousClock.now - started
            let json = try? JSONValue.parse(answer.body.readableBytesView)
            let content = json?["choices"]?.arrayValue?.first?["message"]?["content"]?.stringValue
            let summary = "\(providerID)/\(model): HTTP \(answer.status) in \(elapsed.formatted(.units(allowed: [.milliseconds])))"
            return ([summary, content ?? String(buffer: answer.body)], (200..<300).contains(answer.status))
        } catch {
            throw CommandFailure("\(providerID)/\(model): \((error as? GatewayError)?.message ?? "\(error)")")
        }
    }

    /// An HTTP client set up like the gateway's: fast failure on refused connections, the seed's timeouts.
    private static func upstreamClient(_ settings: GatewaySettings) -> HTTPClient {
        let options = GatewayOptions(connectTimeoutSeconds: settings.connectTimeoutSeconds, readTimeoutSeconds: settings.requestTimeoutSeconds)
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: upstreamClientConfiguration(options))
    }
}
