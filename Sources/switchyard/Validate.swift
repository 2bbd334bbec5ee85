import ArgumentParser
import SwitchyardServer

struct Validate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check a seed file; exit 1 and list every error if it is invalid.",
        discussion: "With --online, also ask each provider for its models and warn about backends whose model it does not offer.")

    @Argument(help: "The seed TOML file.")
    var file: String

    @Flag(help: "Ask each provider for its model list (warnings only; the exit status stays 0 for a valid file).")
    var online = false

    func run() async throws {
        try await reportingFailures {
            let seed = try SeedFile.load(path: file)
            print(SeedFile.summary(of: seed, path: file))
            if online { try await ProviderChecks.offeredModels(seed).forEach { print($0) } }
        }
    }
}

struct Init: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Write a commented example seed file.")

    @Argument(help: "Where to write it.")
    var file = "switchyard.toml"

    @Flag(help: "Replace an existing file.")
    var force = false

    func run() async throws {
        print(try await reportingFailures { try SeedFile.writeExample(to: file, replacing: force) })
    }
}
