import ArgumentParser
import AsyncHTTPClient
import Foundation
import SwitchyardCore
import SwitchyardGateway

struct HealthCheck: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "health-check", abstract: "Run each provider's health check once; exit 1 if any fails.")

    @Option(help: "Seed file.")
    var config = "switchyard.toml"

    @Option(help: "Only this provider.")
    var provider: String?

    func run() async throws {
        let configuration = try effectiveConfiguration(config: config)
        var providers: [String: EffectiveConfiguration.Provider] = [:]
        for model in configuration.models.values {
            for version in model.versions {
                for backend in version.backends { providers[backend.provider.id] = backend.provider }
            }
        }
        if let provider {
            guard let only = providers[provider] else {
                FileHandle.standardError.write(Data("no enabled provider '\(provider)' serves a model in \(config)\n".utf8))
                throw ExitCode.failure
            }
            providers = [provider: only]
        }
        let client = upstreamClient(configuration.settings)
        var failed = false
        for id in providers.keys.sorted() {
            let provider = providers[id]!
            let started = ContinuousClock.now
            let problem: String?
            switch provider.spec.healthCheck {
            case .none: problem = nil
            default: problem = await HealthProber.check(provider, timeout: configuration.settings.healthCheckTimeoutSeconds, client: client)
            }
            let elapsed = ContinuousClock.now - started
            let mode = provider.spec.format == .mock ? "mock (simulated)" : provider.spec.healthCheck.rawValue
            print("\(id)\t\(mode)\t\(problem == nil ? "ok" : "FAILED: \(problem!)")\t\(elapsed.formatted(.units(allowed: [.milliseconds])))")
            failed = failed || problem != nil
        }
        try await client.shutdown()
        if failed { throw ExitCode.failure }
    }
}
