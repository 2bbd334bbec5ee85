import ArgumentParser
import Foundation
import NIOCore
import SwitchyardCore
import SwitchyardGateway

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
        let configuration = try effectiveConfiguration(config: config)
        let seed = try SeedFile.load(path: config)
        guard let spec = seed.configuration.providers.first(where: { $0.id == provider }) else {
            FileHandle.standardError.write(Data("no provider '\(provider)' in \(config)\n".utf8))
            throw ExitCode.failure
        }
        let resolved = EffectiveConfiguration.Provider(spec: spec, environment: ProcessInfo.processInfo.environment)
        let backend = EffectiveConfiguration.Backend(
            provider: resolved, upstreamModel: model, weight: 1, priority: 0, tags: [], mock: MockSettings(), label: "\(provider)/\(model)")
        let body: JSONValue = .object([
            "model": .string(model), "max_tokens": 16, "messages": .array([.object(["role": "user", "content": .string(message)])]),
        ])
        let started = ContinuousClock.now
        do {
            let answer = try await UpstreamAdapters.sendOnce(body, endpoint: .chatCompletions, to: backend, settings: configuration.settings)
            let elapsed = ContinuousClock.now - started
            let json = try? JSONValue.parse(answer.body.readableBytesView)
            let content = json?["choices"]?.arrayValue?.first?["message"]?["content"]?.stringValue
            print("\(provider)/\(model): HTTP \(answer.status) in \(elapsed.formatted(.units(allowed: [.milliseconds])))")
            print(content ?? String(buffer: answer.body))
            if !(200..<300).contains(answer.status) { throw ExitCode.failure }
        } catch let error as ExitCode {
            throw error
        } catch {
            let reason = (error as? GatewayError)?.message ?? "\(error)"
            FileHandle.standardError.write(Data("\(provider)/\(model): \(reason)\n".utf8))
            throw ExitCode.failure
        }
    }
}
