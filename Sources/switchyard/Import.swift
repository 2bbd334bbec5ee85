import ArgumentParser
import Foundation
import SwitchyardCore

struct Import: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a Switchyard seed from another gateway's configuration.", subcommands: [Berry.self, Env.self])

    /// Writes the seed to `output` (or standard output) and the notes to standard error.
    static func emit(seed: String, notes: [String], output: String?) throws {
        for note in notes { FileHandle.standardError.write(Data("not imported: \(note)\n".utf8)) }
        if let output {
            guard !FileManager.default.fileExists(atPath: output) else {
                FileHandle.standardError.write(Data("\(output) exists already\n".utf8))
                throw ExitCode.failure
            }
            try Data(seed.utf8).write(to: URL(fileURLWithPath: output))
            FileHandle.standardError.write(Data("wrote \(output); check it with: switchyard validate \(output)\n".utf8))
        } else {
            print(seed, terminator: "")
        }
    }

    struct Berry: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "From a Berry API config.toml.")

        @Argument(help: "The Berry configuration file.")
        var file: String

        @Option(help: "Write the seed here instead of standard output.")
        var output: String?

        func run() throws {
            let text: String
            do {
                text = try String(contentsOfFile: file, encoding: .utf8)
            } catch {
                FileHandle.standardError.write(Data("cannot read \(file): \(error.localizedDescription)\n".utf8))
                throw ExitCode.failure
            }
            do {
                let result = try BerryImporter.convert(text)
                try Import.emit(seed: result.seed, notes: result.unsupported, output: output)
            } catch let error as ConfigurationError {
                FileHandle.standardError.write(Data("\(file): \(error)\n".utf8))
                throw ExitCode.failure
            }
        }
    }

    struct Env: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "From LLM_PROVIDERS and LLM_PROVIDER_{ID}_* environment variables.")

        @Option(help: "Write the seed here instead of standard output.")
        var output: String?

        func run() throws {
            let result = EnvImporter.convert(ProcessInfo.processInfo.environment)
            try Import.emit(seed: result.seed, notes: result.warnings, output: output)
        }
    }
}
