import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import SwitchyardCore

/// Which models each provider offers: fetched from the provider's own list endpoint at start and
/// on request, normalized to ids, and cached in the repository.
package struct ModelDiscovery: Service {
    let configuration: ConfigurationHolder
    let catalog: any ModelCatalogRepository
    let client: HTTPClient
    let logger: Logger
    static let timeoutSeconds = 10.0

    package init(configuration: ConfigurationHolder, catalog: any ModelCatalogRepository, client: HTTPClient, logger: Logger) {
        self.configuration = configuration
        self.catalog = catalog
        self.client = client
        self.logger = logger
    }

    /// Fetches every enabled provider's list once at start, then waits for shutdown.
    package func run() async throws {
        let providers = Self.providers(in: configuration.current)
        await withTaskGroup(of: Void.self) { group in
            for provider in providers.values {
                group.addTask { _ = await refresh(provider) }
            }
        }
        try? await gracefulShutdown()
    }

    /// The enabled providers the configuration routes to, by id.
    package static func providers(in configuration: EffectiveConfiguration) -> [String: EffectiveConfiguration.Provider] {
        var providers: [String: EffectiveConfiguration.Provider] = [:]
        for model in configuration.models.values {
            for version in model.versions {
                for backend in version.backends { providers[backend.provider.id] = backend.provider }
            }
        }
        return providers
    }

    /// Fetches one provider's list now and stores it; a failure keeps the last good list and records why.
    package func refresh(_ provider: EffectiveConfiguration.Provider) async -> ProviderModels {
        let now = Date().timeIntervalSince1970
        var result: ProviderModels
        switch await Self.fetch(provider, configuration: configuration.current, client: client) {
        case .success(let models):
            result = ProviderModels(provider: provider.id, models: models, fetchedAt: now)
        case .failure(let error):
            let previous = try? await catalog.loadProviderModels(provider.id)
            result = ProviderModels(provider: provider.id, models: previous?.models ?? [], fetchedAt: now, error: error.message)
            logger.warning("model discovery failed", metadata: ["provider": .string(provider.id), "error": .string(error.message)])
        }
        do {
            try await catalog.saveProviderModels(result)
        } catch {
            logger.error("storing discovered models failed", metadata: ["provider": .string(provider.id), "error": "\(error)"])
        }
        return result
    }

    package struct FetchError: Error {
        package var message: String
    }

    /// Asks a provider for its models. `mock` offers the models its backends name.
    package static func fetch(
        _ provider: EffectiveConfiguration.Provider, configuration: EffectiveConfiguration, client: HTTPClient
    ) async -> Result<[String], FetchError> {
        guard provider.spec.format != .mock else {
            let names = configuration.models.values.flatMap(\.versions).flatMap(\.backends).filter { $0.provider.id == provider.id }.map(
                \.upstreamModel)
            return .success(Array(Set(names)).sorted())
        }
        guard var request = listRequest(for: provider) else { return .failure(FetchError(message: "no base_url")) }
        request.headers.add(name: "accept", value: "application/json")
        do {
            let response = try await client.execute(request, timeout: .milliseconds(Int64(timeoutSeconds * 1000)))
            let body = try await response.body.collect(upTo: 8 << 20)
            guard (200..<300).contains(Int(response.status.code)) else {
                return .failure(FetchError(message: "GET \(URLCredentials.redacted(request.url)) answered HTTP \(response.status.code)"))
            }
            guard let json = try? JSONValue.parse(body.readableBytesView) else {
                return .failure(FetchError(message: "GET \(URLCredentials.redacted(request.url)) answered with something other than JSON"))
            }
            return .success(modelIDs(in: json))
        } catch {
            return .failure(FetchError(message: provider.redacting("GET \(URLCredentials.redacted(request.url)) failed: \(error)")))
        }
    }

    /// The provider's list endpoint with its authentication: `models_path` relative to the base
    /// URL, else the format's own (`/models`; Ollama `/v1/models`; Azure's deployment list; Anthropic `/models`).
    package static func listRequest(for provider: EffectiveConfiguration.Provider) -> HTTPClientRequest? {
        let spec = provider.spec
        guard let baseURL = spec.effectiveBaseURL else { return nil }
        let defaultPath: String
        var request: HTTPClientRequest
        switch spec.format {
        case .openai, .mock: defaultPath = "/models"
        case .ollama: defaultPath = "/v1/models"
        case .anthropic: defaultPath = "/models?limit=1000"
        case .azure: defaultPath = "/openai/deployments?api-version=2022-12-01"
        }
        request = HTTPClientRequest(url: baseURL + (spec.modelsPath ?? defaultPath))
        if let key = provider.apiKey {
            switch spec.format {
            case .azure: request.headers.add(name: "api-key", value: key)
            case .anthropic: request.headers.add(name: "x-api-key", value: key)
            case .openai, .ollama, .mock: request.headers.add(name: "authorization", value: "Bearer \(key)")
            }
        }
        if spec.format == .anthropic {
            request.headers.add(name: "anthropic-version", value: spec.effectiveAPIVersion ?? "")
        }
        for (name, value) in provider.headers { request.headers.replaceOrAdd(name: name, value: value) }
        return request
    }

    /// Ids from `{"data": [{"id": …}]}` (OpenAI, Azure, Anthropic, Ollama's `/v1/models`) or
    /// `{"models": [{"name": …}]}` (Ollama's `/api/tags`), sorted.
    package static func modelIDs(in json: JSONValue) -> [String] {
        let fromData = (json["data"]?.arrayValue ?? []).compactMap { $0["id"]?.stringValue }
        let fromModels = (json["models"]?.arrayValue ?? []).compactMap { ($0["name"] ?? $0["model"])?.stringValue }
        return Array(Set(fromData + fromModels)).sorted()
    }

    /// Backends whose upstream model (Azure: deployment) the provider's list does not contain.
    package static func missing(
        in configuration: EffectiveConfiguration, provider: String, offered: [String]
    ) -> [(model: String, version: String, backend: EffectiveConfiguration.Backend)] {
        let offered = Set(offered)
        var result: [(String, String, EffectiveConfiguration.Backend)] = []
        for model in configuration.models.values.sorted(by: { $0.name < $1.name }) {
            for version in model.versions {
                for backend in version.backends where backend.provider.id == provider {
                    let name = backend.provider.spec.format == .azure ? backend.deployment ?? backend.upstreamModel : backend.upstreamModel
                    if !offered.contains(name) { result.append((model.name, version.name, backend)) }
                }
            }
        }
        return result
    }
}
