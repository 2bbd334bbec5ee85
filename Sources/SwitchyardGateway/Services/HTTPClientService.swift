import AsyncHTTPClient
import ServiceLifecycle

/// Owns the shared upstream HTTP client and shuts it down after the server has drained.
struct HTTPClientService: Service {
    let client: HTTPClient

    func run() async throws {
        try? await gracefulShutdown()
        try await client.shutdown()
    }
}

/// Closes the request path's pooled upstream connections after the server has drained.
struct UpstreamClientService: Service {
    let client: UpstreamClient

    func run() async throws {
        try? await gracefulShutdown()
        await client.shutdown()
    }
}
