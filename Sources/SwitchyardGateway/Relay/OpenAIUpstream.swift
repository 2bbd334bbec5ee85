import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import SwitchyardCore

/// Sends requests to any OpenAI-compatible server through the shared pooled HTTP client.
package struct OpenAIUpstream: ProviderAdapter {
    private let client: HTTPClient

    package init(client: HTTPClient) {
        self.client = client
    }

    package func send(
        _ request: UpstreamRequest, to backend: EffectiveConfiguration.Backend, settings: GatewaySettings
    ) async throws -> UpstreamResponse {
        let provider = backend.provider.spec
        guard let baseURL = provider.baseURL else {
            throw GatewayError.upstreamUnreachable("provider '\(provider.id)' has no base_url")
        }
        var upstream = HTTPClientRequest(url: "\(baseURL)/\(request.endpoint.rawValue)")
        upstream.method = .POST
        upstream.headers.add(name: "content-type", value: "application/json")
        upstream.headers.add(name: "accept", value: request.stream ? "text/event-stream" : "application/json")
        if let key = backend.provider.apiKey {
            upstream.headers.add(name: "authorization", value: "Bearer \(key)")
        }
        upstream.headers.add(name: "x-request-id", value: request.requestID)
        for (name, value) in request.forwardedHeaders {
            upstream.headers.add(name: name, value: value)
        }
        for (name, value) in provider.headers {
            upstream.headers.replaceOrAdd(name: name, value: value)
        }
        upstream.body = .bytes(ByteBuffer(bytes: JSONValue.object(request.body).jsonBytes))

        let timeout = settings.firstByteTimeout(for: provider)
        let response: HTTPClientResponse
        do {
            response = try await client.execute(upstream, timeout: .milliseconds(Int64(timeout * 1000)))
        } catch let error as HTTPClientError {
            throw Self.gatewayError(for: error)
        } catch let error as ChannelError {
            throw GatewayError.upstreamUnreachable("\(error)")
        } catch let error as IOError {
            throw GatewayError.upstreamUnreachable(error.description)
        }
        return UpstreamResponse(
            status: Int(response.status.code), contentType: response.headers.first(name: "content-type"),
            contentLength: response.headers.first(name: "content-length").flatMap { Int($0) },
            retryAfter: response.headers.first(name: "retry-after"), body: .network(response.body))
    }

    /// Maps the HTTP client's failures to what the client is told: timeouts 504, the rest 502.
    package static func gatewayError(for error: HTTPClientError) -> GatewayError {
        switch error {
        case .deadlineExceeded, .readTimeout, .getConnectionFromPoolTimeout:
            return .upstreamTimeout()
        case .connectTimeout:
            return .upstreamUnreachable("connection timed out")
        default:
            return .upstreamUnreachable(error.description)
        }
    }
}
