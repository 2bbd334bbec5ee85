import Foundation

/// A conversation bound to the version and backend that first served it. Conversations are the
/// user's own: the same id from another user is another conversation.
package struct SessionBinding: Sendable, Hashable, Codable {
    package var userID: String
    package var sessionID: String
    package var model: String
    package var version: String
    /// `provider/upstream-model`.
    package var backend: String
    /// Seconds since 1970.
    package var expiresAt: Double

    package init(userID: String = "", sessionID: String, model: String, version: String, backend: String, expiresAt: Double) {
        self.userID = userID
        self.sessionID = sessionID
        self.model = model
        self.version = version
        self.backend = backend
        self.expiresAt = expiresAt
    }
}
