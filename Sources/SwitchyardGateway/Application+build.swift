import AsyncHTTPClient
import Hummingbird
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import SwitchyardCore

/// What the gateway needs from its host: where to listen, its limits, and its collaborators.
package struct GatewayOptions: Sendable {
    package var host: String
    package var port: Int
    package var maxBodyBytes: Int
    package var connectTimeoutSeconds: Double

    package init(
        host: String = "127.0.0.1", port: Int = 8080, maxBodyBytes: Int = ServerSpec.defaultMaxBodyBytes,
        connectTimeoutSeconds: Double = 5
    ) {
        self.host = host
        self.port = port
        self.maxBodyBytes = maxBodyBytes
        self.connectTimeoutSeconds = connectTimeoutSeconds
    }
}

/// The composition root: builds the HTTP application the executable runs and the tests drive.
///
/// - Parameters:
///   - services: long-running jobs started before the server and stopped after it (e.g. the event writer).
///   - onServerRunning: called with the bound port once the server accepts connections.
package func buildApplication(
    options: GatewayOptions, configuration: ConfigurationHolder, outcomes: any OutcomeSink, services: [any Service] = [],
    logger: Logger, onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
) -> some ApplicationProtocol {
    let eventLoopGroup = MultiThreadedEventLoopGroup.singleton
    let client = HTTPClient(
        eventLoopGroup: eventLoopGroup, configuration: upstreamClientConfiguration(connectTimeoutSeconds: options.connectTimeoutSeconds),
        backgroundActivityLogger: logger)
    let relay = Relay(openAI: OpenAIUpstream(client: client), mock: MockUpstream(), sink: outcomes)

    let router = Router(context: GatewayContext.self)
    router.add(middleware: RequestIDMiddleware())
    router.get("/health") { _, _ in
        Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: #"{"status":"ok"}"#)))
    }
    router.get("/ready") { _, _ -> Response in
        let models = configuration.current.modelNames.count
        let ready = models > 0
        let body = ByteBuffer(string: #"{"status":"\#(ready ? "ready" : "no models configured")","models":\#(models)}"#)
        return Response(
            status: ready ? .ok : .serviceUnavailable, headers: [.contentType: "application/json"], body: .init(byteBuffer: body))
    }
    ClientAPIController(configuration: configuration, relay: relay, maxBodyBytes: options.maxBodyBytes).addRoutes(to: router)

    return Application(
        router: router,
        configuration: .init(address: .hostname(options.host, port: options.port), serverName: nil),
        services: services + [HTTPClientService(client: client)],
        onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? options.port) },
        eventLoopGroupProvider: .shared(eventLoopGroup),
        logger: logger)
}

/// Pooled keep-alive connections, many per host, and no silent connect retries: a refused upstream
/// must fail fast (DESIGN §10).
func upstreamClientConfiguration(connectTimeoutSeconds: Double) -> HTTPClient.Configuration {
    var configuration = HTTPClient.Configuration()
    configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 256
    configuration.connectionPool.retryConnectionEstablishment = false
    configuration.connectionPool.idleTimeout = .seconds(60)
    configuration.timeout.connect = .milliseconds(Int64(connectTimeoutSeconds * 1000))
    configuration.decompression = .disabled
    configuration.redirectConfiguration = .disallow
    return configuration
}
