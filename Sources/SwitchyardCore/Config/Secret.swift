/// A secret written in configuration either literally or as `env:NAME`, a reference resolved from the environment.
package enum SecretReference: Sendable, Hashable, Codable, CustomStringConvertible {
    case literal(String)
    case environment(String)

    package static let environmentPrefix = "env:"

    package init(parsing text: String) {
        if text.hasPrefix(Self.environmentPrefix) {
            self = .environment(String(text.dropFirst(Self.environmentPrefix.count)))
        } else {
            self = .literal(text)
        }
    }

    /// The form written in configuration.
    package var written: String {
        switch self {
        case .literal(let value): return value
        case .environment(let name): return Self.environmentPrefix + name
        }
    }

    package func resolve(in environment: [String: String]) -> String? {
        switch self {
        case .literal(let value): return value
        case .environment(let name): return environment[name]
        }
    }

    /// Never shows a literal secret.
    package var description: String {
        switch self {
        case .literal: return "<redacted>"
        case .environment(let name): return Self.environmentPrefix + name
        }
    }

    package init(from decoder: any Decoder) throws {
        self.init(parsing: try decoder.singleValueContainer().decode(String.self))
    }

    package func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(written)
    }
}
