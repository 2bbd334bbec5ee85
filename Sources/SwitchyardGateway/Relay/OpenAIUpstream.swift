import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import SwitchyardCore

/// Sends requests to OpenAI-compatible servers through the shared pooled HTTP client: OpenAI's own
/// paths (`openai`), Azure's deployment paths (`azure`) and Ollama's `/v1` endpoint (`ollama`).
package struct OpenAIUpstream: ProviderAdapter {
    private let client: HTTPClient

    package init(client: HTTPClient) {
        self.client = client
    }

    package func send(
        _ request: UpstreamRequest, to backend: EffectiveConfiguration.Backend, settings: GatewaySettings
    ) async throws -> UpstreamResponse {
        let provider = backend.provider.spec
        guard let baseURL = provider.effectiveBaseURL else {
            throw GatewayError.upstreamUnreachable("provider '\(provider.id)' has no base_url")
        }
        var headers: [(String, String)] = []
        let url: String
        switch provider.format {
        case .azure:
            // Azure routes by deployment in the path; the key goes in `api-key`.
            let deployment = Self.pathSegment(backend.deployment ?? backend.upstreamModel)
            let version = provider.effectiveAPIVersion ?? ""
            url = "\(baseURL)/openai/deployments/\(deployment)/\(request.endpoint.rawValue)?api-version=\(Self.pathSegment(version))"
            if let key = backend.provider.apiKey { headers.append(("api-key", key)) }
        case .ollama:
            url = "\(baseURL)/v1/\(request.endpoint.rawValue)"
            if let key = backend.provider.apiKey { headers.append(("authorization", "Bearer \(key)")) }
        case .openai, .mock, .anthropic:
            url = "\(baseURL)/\(request.endpoint.rawValue)"
            if let key = backend.provider.apiKey { headers.append(("authorization", "Bearer \(key)")) }
        }
        return try await execute(
            url: url, headers: headers, body: JSONValue.object(request.body).jsonBytes, request: request, provider: provider, settings: settings)
    }

    /// POSTs a JSON body with the gateway's headers (request id, forwarded client headers, the provider's own).
    func execute(
        url: String, headers: [(String, String)], body: [UInt8], request: UpstreamRequest, provider: ProviderSpec, settings: GatewaySettings
    ) async throws -> UpstreamResponse {
        var upstream = HTTPClientRequest(url: url)
        upstream.method = .POST
        upstream.headers.add(name: "content-type", value: "application/json")
        upstream.headers.add(name: "accept", value: request.stream ? "text/event-stream" : "application/json")
        for (name, value) in headers {
            upstream.headers.add(name: name, value: value)
        }
        upstream.headers.add(name: "x-request-id", value: request.requestID)
        for (name, value) in request.forwardedHeaders {
            upstream.headers.add(name: name, value: value)
        }
        for (name, value) in provider.headers {
            upstream.headers.replaceOrAdd(name: name, value: value)
        }
        upstream.body = .bytes(ByteBuffer(bytes: body))

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

    /// A name made safe to put in a URL path or query.
    static func pathSegment(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .urlUnreservedCharacters) ?? text
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

extension CharacterSet {
    /// RFC 3986's unreserved characters.
    static let urlUnreservedCharacters = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
}
