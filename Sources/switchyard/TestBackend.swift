import ArgumentParser
import SwitchyardServer

struct TestBackend: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "test-backend", abstract: "Send one tiny chat request to a provider's model; print latency and the answer.")

    @Option(help: "Seed file.")
    var config = "switchyard.toml"

    @Option(help: "Provider id.")
    var provider: String

    @Option(help: "Upstream model name.")
    var model: String

    @Option(help: "The message to send.")
    var message = "Reply with the single word: pong"

    func run() async throws {
        let result = try await reportingFailures {
            try await ProviderChecks.testBackend(config: config, providerID: provider, model: model, message: message)
        }
        result.lines.forEach { print($0) }
        if !result.answered { throw ExitCode.failure }
    }
}
