import Foundation
import SwitchyardCore

/// Reading a seed file from disk, or the embedded example when there is none.
package enum SeedFile {
    package static var exampleText: String {
        String(decoding: PackageResources.switchyard_example_toml, as: UTF8.self)
    }

    package static func load(path: String) throws(SeedFileError) -> Seed {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw SeedFileError(path: path, errors: [ConfigurationError(key: "", reason: "cannot read the file: \(error.localizedDescription)")])
        }
        return try parse(text, path: path)
    }

    package static func parse(_ text: String, path: String) throws(SeedFileError) -> Seed {
        do {
            return try Seed(toml: text, environment: ProcessInfo.processInfo.environment)
        } catch {
            throw SeedFileError(path: path, errors: error.errors)
        }
    }

    /// What `switchyard validate` says of a valid seed.
    package static func summary(of seed: Seed, path: String) -> String {
        let configuration = seed.configuration
        return "\(path): valid (\(configuration.providers.count) providers, \(configuration.models.count) models, \(configuration.users.count) users)"
    }

    /// The seed's configuration as routing would see it, for commands that talk to providers.
    package static func effectiveConfiguration(path: String) throws(SeedFileError) -> EffectiveConfiguration {
        EffectiveConfiguration(try load(path: path).configuration, environment: ProcessInfo.processInfo.environment)
    }

    /// Writes the commented example seed to `path`, unless a file is there and `replacing` is off.
    package static func writeExample(to path: String, replacing: Bool) throws -> String {
        guard replacing || !FileManager.default.fileExists(atPath: path) else {
            throw CommandFailure("\(path) already exists; pass --force to replace it")
        }
        try Data(PackageResources.switchyard_example_toml).write(to: URL(fileURLWithPath: path))
        return "wrote \(path); start with: switchyard serve --config \(path)"
    }
}

/// Every error of an invalid seed file, each line naming the file.
package struct SeedFileError: Error, CustomStringConvertible {
    package var path: String
    package var errors: [ConfigurationError]

    package var description: String {
        (["\(path): invalid seed, nothing applied"] + errors.map { "  \(path): \($0)" }).joined(separator: "\n")
    }
}
