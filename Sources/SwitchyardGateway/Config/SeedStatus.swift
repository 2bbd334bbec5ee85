import Foundation
import Logging
import ServiceLifecycle
import SwitchyardCore
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Where the serving seed came from and how its last application went (`GET /api/config/status`).
package struct SeedStatus: Sendable {
    package enum Result: String, Sendable {
        case applied, unchanged, invalid, never
    }

    package var path: String?
    package var watching = false
    package var lastAttemptAt: Double?
    package var lastAppliedAt: Double?
    /// SHA-256 of the file last applied.
    package var lastHash: String?
    package var result: Result = .never
    package var errors: [ConfigurationError] = []
    /// Objects the last application created, updated or disabled.
    package var changed: [String] = []

    package init(path: String?, appliedHash: String? = nil, appliedAt: Double? = nil, changed: [String] = []) {
        self.path = path
        lastHash = appliedHash
        lastAppliedAt = appliedAt
        lastAttemptAt = appliedAt
        result = appliedAt == nil ? .never : .applied
        self.changed = changed
    }
}
