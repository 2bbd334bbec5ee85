import ArgumentParser
import SwitchyardServer

struct Import: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a Switchyard seed from another gateway's configuration.", subcommands: [Berry.self, Env.self])

    struct Berry: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "From a Berry API config.toml.")

        @Argument(help: "The Berry configuration file.")
        var file: String

        @Option(help: "Write the seed here instead of standard output.")
        var output: String?

        func run() async throws {
            let seed = try await reportingFailures {
                let (seed, notes) = try SeedImport.fromBerry(file: file)
                return try SeedImport.emit(seed: seed, notes: notes, output: output)
            }
            if let seed { print(seed, terminator: "") }
        }
    }

    struct Env: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "From LLM_PROVIDERS and LLM_PROVIDER_{ID}_* environment variables.")

        @Option(help: "Write the seed here instead of standard output.")
        var output: String?

        func run() async throws {
            let seed = try await reportingFailures {
                let (seed, notes) = SeedImport.fromEnvironment()
                return try SeedImport.emit(seed: seed, notes: notes, output: output)
            }
            if let seed { print(seed, terminator: "") }
        }
    }
}
