import Foundation
import SwitchyardCore

/// `switchyard import`: a seed written from another gateway's configuration.
package enum SeedImport {
    /// The seed converted from a Berry API `config.toml`, and what could not be carried over.
    package static func fromBerry(file: String) throws -> (seed: String, notes: [String]) {
        let text: String
        do {
            text = try String(contentsOfFile: file, encoding: .utf8)
        } catch {
            throw CommandFailure("cannot read \(file): \(error.localizedDescription)")
        }
        do {
            let result = try BerryImporter.convert(text)
            return (result.seed, result.unsupported)
        } catch {
            throw CommandFailure("\(file): \(error)")
        }
    }

    /// The seed converted from `LLM_PROVIDERS` and `LLM_PROVIDER_{ID}_*` variables, and the warnings.
    package static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> (
        seed: String, notes: [String]
    ) {
        let result = EnvImporter.convert(environment)
        return (result.seed, result.warnings)
    }

    /// Writes `seed` to `output` (never over an existing file), or returns it for standard output
    /// when there is no output path. The notes go to standard error either way.
    package static func emit(seed: String, notes: [String], output: String?) throws -> String? {
        for note in notes { FileHandle.standardError.write(Data("not imported: \(note)\n".utf8)) }
        guard let output else { return seed }
        guard !FileManager.default.fileExists(atPath: output) else { throw CommandFailure("\(output) exists already") }
        try Data(seed.utf8).write(to: URL(fileURLWithPath: output))
        FileHandle.standardError.write(Data("wrote \(output); check it with: switchyard validate \(output)\n".utf8))
        return nil
    }
}
