import ArgumentParser
import SwitchyardServer

struct HealthCheck: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "health-check", abstract: "Run each provider's health check once; exit 1 if any fails.")

    @Option(help: "Seed file.")
    var config = "switchyard.toml"

    @Option(help: "Only this provider.")
    var provider: String?

    func run() async throws {
        let result = try await reportingFailures { try await ProviderChecks.healthChecks(config: config, only: provider) }
        result.lines.forEach { print($0) }
        if !result.allPassed { throw ExitCode.failure }
    }
}
