import Foundation

/// Why a request cannot be routed, before anything is sent upstream.
package enum RoutingFailure: Error, Sendable, Equatable {
    case unknownModel(String)
    case modelNotAllowed(String)
    /// No backend of the version (nor of the default version) may serve this request now.
    case noBackend(model: String, version: String, reason: String)
}
