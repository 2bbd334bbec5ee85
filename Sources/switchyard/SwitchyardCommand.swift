import ArgumentParser
import SwitchyardCore

@main
struct SwitchyardCommand: AsyncParsableCommand {
    static let version = SwitchyardVersion.description

    static let configuration = CommandConfiguration(
        commandName: "switchyard",
        abstract: "An LLM API gateway: OpenAI-compatible in front, any provider behind, releases made safe.",
        version: version,
        subcommands: [Serve.self, Validate.self, Init.self, Backup.self, HealthCheck.self, TestBackend.self, Usage.self, Import.self, Version.self],
        defaultSubcommand: Serve.self)
}

struct Version: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the version and the git commit it was built from.")

    func run() {
        print("switchyard \(SwitchyardCommand.version)")
    }
}
