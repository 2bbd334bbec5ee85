import ArgumentParser
import AsyncHTTPClient
import Foundation
import SwitchyardCore
import SwitchyardGateway

struct Validate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check a seed file; exit 1 and list every error if it is invalid.",
        discussion: "With --online, also ask each provider for its models and warn about backends whose model it does not offer.")

    @Argument(help: "The seed TOML file.")
    var file: String

    @Flag(help: "Ask each provider for its model list (warnings only; the exit status stays 0 for a valid file).")
    var online = false

    func run() async throws {
        let seed: Seed
        do {
            seed = try SeedFile.load(path: file)
        } catch {
            FileHandle.standardError.write(Data("\(error)\n".utf8))
            throw ExitCode.failure
        }
        let configuration = seed.configuration
        print(
            "\(file): valid (\(configuration.providers.count) providers, \(configuration.models.count) models, \(configuration.users.count) users)"
        )
        guard online else { return }
        let effective = EffectiveConfiguration(configuration, environment: ProcessInfo.processInfo.environment)
        let client = upstreamClient(configuration.settings)
        for provider in ModelDiscovery.providers(in: effective).values.sorted(by: { $0.id < $1.id }) {
            switch await ModelDiscovery.fetch(provider, configuration: effective, client: client) {
            case .success(let offered):
                let missing = ModelDiscovery.missing(in: effective, provider: provider.id, offered: offered)
                for (model, version, backend) in missing {
                    let name = provider.spec.format == .azure ? backend.deployment ?? backend.upstreamModel : backend.upstreamModel
                    print("warning: models.\(model) version \(version): provider \(provider.id) does not offer \"\(name)\"")
                }
                if missing.isEmpty { print("\(provider.id): \(offered.count) models offered; every backend's model is among them") }
            case .failure(let error):
                print("warning: \(provider.id): cannot list models: \(error.message)")
            }
        }
        try await client.shutdown()
    }
}

struct Init: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Write a commented example seed file.")

    @Argument(help: "Where to write it.")
    var file = "switchyard.toml"

    @Flag(help: "Replace an existing file.")
    var force = false

    func run() throws {
        if FileManager.default.fileExists(atPath: file) && !force {
            FileHandle.standardError.write(Data("\(file) already exists; pass --force to replace it\n".utf8))
            throw ExitCode.failure
        }
        try Data(PackageResources.switchyard_example_toml).write(to: URL(fileURLWithPath: file))
        print("wrote \(file); start with: switchyard serve --config \(file)")
    }
}

/// Reading a seed file from disk, or the embedded example when there is none.
enum SeedFile {
    static var exampleText: String {
        String(decoding: PackageResources.switchyard_example_toml, as: UTF8.self)
    }

    static func load(path: String) throws(SeedFileError) -> Seed {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw SeedFileError(path: path, errors: [ConfigurationError(key: "", reason: "cannot read the file: \(error.localizedDescription)")])
        }
        return try parse(text, path: path)
    }

    static func parse(_ text: String, path: String) throws(SeedFileError) -> Seed {
        do {
            return try Seed(toml: text, environment: ProcessInfo.processInfo.environment)
        } catch {
            throw SeedFileError(path: path, errors: error.errors)
        }
    }
}

struct SeedFileError: Error, CustomStringConvertible {
    var path: String
    var errors: [ConfigurationError]

    var description: String {
        (["\(path): invalid seed, nothing applied"] + errors.map { "  \(path): \($0)" }).joined(separator: "\n")
    }
}
