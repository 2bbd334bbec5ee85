import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import SwitchyardCore
import SwitchyardGateway
import SwitchyardStore

/// The seed's configuration as routing would see it, for commands that talk to providers.
private func effectiveConfiguration(config: String) throws -> EffectiveConfiguration {
    let seed = try SeedFile.load(path: config)
    return EffectiveConfiguration(seed.configuration, environment: ProcessInfo.processInfo.environment)
}

/// An HTTP client set up like the gateway's: fast failure on refused connections, the seed's timeouts.
func upstreamClient(_ settings: GatewaySettings) -> HTTPClient {
    let options = GatewayOptions(connectTimeoutSeconds: settings.connectTimeoutSeconds, readTimeoutSeconds: settings.requestTimeoutSeconds)
    return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: upstreamClientConfiguration(options))
}

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

struct Usage: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print requests, tokens and cost from the database.")

    @Option(help: "The database file.")
    var database = "switchyard.db"

    @Option(help: "From this time: seconds since 1970 or an ISO 8601 date or time.")
    var since: String?

    @Option(help: "user, model, version or day.")
    var groupBy = "user"

    func run() async throws {
        guard let grouping = UsageQuery.Grouping(rawValue: groupBy) else { throw ValidationError("--group-by is user, model, version or day") }
        guard FileManager.default.fileExists(atPath: database) else {
            FileHandle.standardError.write(Data("no database at \(database)\n".utf8))
            throw ExitCode.failure
        }
        var from: Double?
        if let since {
            guard
                let parsed = Double(since) ?? ISO8601DateFormatter().date(from: since)?.timeIntervalSince1970
                    ?? (try? Date(since, strategy: .iso8601.year().month().day()))?.timeIntervalSince1970
            else { throw ValidationError("--since: seconds since 1970 or an ISO 8601 date or time") }
            from = parsed
        }
        let store: SQLiteStore
        do {
            store = try SQLiteStore.opening(database)
        } catch {
            FileHandle.standardError.write(Data("switchyard: \(error)\n".utf8))
            throw ExitCode.failure
        }
        let rows = try await store.usage(UsageQuery(from: from, groupBy: grouping))
        try store.close()
        print([groupBy, "requests", "errors", "tokens_in", "tokens_out", "cost_usd"].joined(separator: "\t"))
        for row in rows {
            print("\(row.key)\t\(row.requests)\t\(row.errors)\t\(row.inputTokens)\t\(row.outputTokens)\t\(String(format: "%.6f", row.costUSD))")
        }
    }
}
