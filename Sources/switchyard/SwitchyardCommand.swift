import ArgumentParser
import Foundation
import SwitchyardCore
import SwitchyardServer

@main
struct SwitchyardCommand: AsyncParsableCommand {
    static let version = SwitchyardVersion.description

    static let configuration = CommandConfiguration(
        commandName: "switchyard",
        abstract: "An LLM API gateway: OpenAI-compatible in front, any provider behind, releases made safe.",
        version: version,
        subcommands: [
            Serve.self, Validate.self, Init.self, Backup.self, Migrate.self, HealthCheck.self, TestBackend.self, Usage.self, Import.self,
            Version.self,
        ],
        defaultSubcommand: Serve.self)
}

struct Version: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the version and the git commit it was built from.")

    func run() {
        print("switchyard \(SwitchyardCommand.version)")
    }
}

/// Runs a command's work (in SwitchyardServer): what it cannot do goes to standard error as it
/// is, and the process exits with status 1.
func reportingFailures<Result>(_ work: () async throws -> Result) async throws -> Result {
    do {
        return try await work()
    } catch let failure as CommandFailure {
        FileHandle.standardError.write(Data("\(failure)\n".utf8))
        throw ExitCode.failure
    } catch let invalid as SeedFileError {
        FileHandle.standardError.write(Data("\(invalid)\n".utf8))
        throw ExitCode.failure
    }
}
