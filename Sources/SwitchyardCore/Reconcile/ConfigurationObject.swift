import Crypto
import Foundation

/// One independently reconciled piece of configuration: the settings, a provider, a model (with its
/// versions and backends) or a user.
package enum ConfigurationObject: Sendable, Hashable {
    case settings(GatewaySettings)
    case provider(ProviderSpec)
    case model(ModelSpec)
    case user(UserSpec)

    /// Stable identity across seeds: `settings`, `provider:ID`, `model:NAME`, `user:ID`.
    package var key: String {
        switch self {
        case .settings: return "settings"
        case .provider(let provider): return "provider:\(provider.id)"
        case .model(let model): return "model:\(model.name)"
        case .user(let user): return "user:\(user.id)"
        }
    }

    /// JSON with sorted keys: the same object always renders the same bytes.
    package var canonicalJSON: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data: Data
        do {
            switch self {
            case .settings(let value): data = try encoder.encode(value)
            case .provider(let value): data = try encoder.encode(value)
            case .model(let value): data = try encoder.encode(value)
            case .user(let value): data = try encoder.encode(value)
            }
        } catch {
            preconditionFailure("configuration values always encode: \(error)")
        }
        return String(decoding: data, as: UTF8.self)
    }

    /// The canonical JSON with secrets left out: what the audit log keeps. A provider's literal
    /// key, header values and URL password read `"<redacted>"` (`env:` references stay), a user's
    /// token digest is dropped.
    package var auditJSON: String {
        switch self {
        case .provider(let provider):
            return ConfigurationObject.provider(provider.redacted).canonicalJSON
        case .user(var user):
            user.tokenDigest = TokenDigest.redacted
            return ConfigurationObject.user(user).canonicalJSON
        case .settings, .model:
            return canonicalJSON
        }
    }

    /// SHA-256 of the canonical JSON, the "form last applied" remembered per seed object.
    package var fingerprint: String {
        ContentHash.sha256Hex(Array(canonicalJSON.utf8))
    }

    /// The same object switched off, as when it disappears from the seed.
    package var disabled: ConfigurationObject? {
        switch self {
        case .settings: return nil
        case .provider(var value): value.enabled = false; return .provider(value)
        case .model(var value): value.enabled = false; return .model(value)
        case .user(var value): value.enabled = false; return .user(value)
        }
    }
}

extension ConfigurationSpec {
    package var objects: [ConfigurationObject] {
        [.settings(settings)] + providers.map(ConfigurationObject.provider) + models.map(ConfigurationObject.model)
            + users.map(ConfigurationObject.user)
    }

    package func object(forKey key: String) -> ConfigurationObject? {
        objects.first { $0.key == key }
    }

    /// Removes the object with this key, if there is one.
    package mutating func remove(key: String) {
        providers.removeAll { "provider:\($0.id)" == key }
        models.removeAll { "model:\($0.name)" == key }
        users.removeAll { "user:\($0.id)" == key }
    }

    /// Inserts or replaces an object by its key, keeping each list in key order.
    package mutating func put(_ object: ConfigurationObject) {
        switch object {
        case .settings(let value):
            settings = value
        case .provider(let value):
            providers.removeAll { $0.id == value.id }
            providers.append(value)
            providers.sort { $0.id < $1.id }
        case .model(let value):
            models.removeAll { $0.name == value.name }
            models.append(value)
            models.sort { $0.name < $1.name }
        case .user(let value):
            users.removeAll { $0.id == value.id }
            users.append(value)
            users.sort { $0.id < $1.id }
        }
    }
}

/// SHA-256 in hex, for telling whether a file changed.
package enum ContentHash {
    package static func sha256Hex(_ bytes: [UInt8]) -> String {
        SHA256.hash(data: bytes).withUnsafeBytes { Hex.encode($0) }
    }
}
