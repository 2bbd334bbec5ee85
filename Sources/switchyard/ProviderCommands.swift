import AsyncHTTPClient
import Foundation
import SwitchyardCore
import SwitchyardGateway

/// The seed's configuration as routing would see it, for commands that talk to providers.
func effectiveConfiguration(config: String) throws -> EffectiveConfiguration {
    let seed = try SeedFile.load(path: config)
    return EffectiveConfiguration(seed.configuration, environment: ProcessInfo.processInfo.environment)
}

/// An HTTP client set up like the gateway's: fast failure on refused connections, the seed's timeouts.
func upstreamClient(_ settings: GatewaySettings) -> HTTPClient {
    let options = GatewayOptions(connectTimeoutSeconds: settings.connectTimeoutSeconds, readTimeoutSeconds: settings.requestTimeoutSeconds)
    return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: upstreamClientConfiguration(options))
}
