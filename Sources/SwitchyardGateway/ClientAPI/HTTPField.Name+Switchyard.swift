import HTTPTypes

/// The header names the gateway reads and writes.
extension HTTPField.Name {
    package static let requestID = Self("x-request-id")!
    package static let switchyardVersion = Self("x-switchyard-version")!
    package static let switchyardBackend = Self("x-switchyard-backend")!
    package static let switchyardExperiment = Self("x-switchyard-experiment")!
    package static let switchyardVariant = Self("x-switchyard-variant")!
    package static let apiKey = Self("x-api-key")!
    package static let accelBuffering = Self("x-accel-buffering")!
    package static let switchyardRegion = Self("x-switchyard-region")!
    package static let traceparent = Self("traceparent")!
    package static let switchyardExcludeProviders = Self("x-switchyard-exclude-providers")!
}
