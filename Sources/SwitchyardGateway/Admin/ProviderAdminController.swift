import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import SwitchyardCore

/// Providers through the admin API: create, read (secrets masked), change, delete, and the models
/// each one offers (`GET /api/providers/{id}/models`, `POST /api/providers/{id}/refresh-models`).
package struct ProviderAdminController: Sendable {
    let writer: ConfigurationWriter
    let discovery: ModelDiscovery
    let environment: [String: String]
    let listening: ListeningAddress

    package func addRoutes(to router: Router<GatewayContext>) {
        addObjectRoutes(to: router)
        router.get("/api/providers/{id}/models") { request, context in
            let provider = try await provider(context.pathParameter("id"))
            let cached = try await discovery.catalog.loadProviderModels(provider.id)
            let models: ProviderModels
            if let cached {
                models = cached
            } else {
                models = await discovery.refresh(provider)
            }
            return Response.json(Self.json(models, format: provider.spec.format))
        }
        router.post("/api/providers/{id}/refresh-models") { request, context in
            let provider = try await provider(context.pathParameter("id"))
            return Response.json(Self.json(await discovery.refresh(provider), format: provider.spec.format))
        }
    }

    private func addObjectRoutes(to router: Router<GatewayContext>) {
        router.get("/api/providers") { request, _ in
            return Response.json(.object(["providers": .array(await writer.configuration.providers.map(Self.json))]))
        }
        router.post("/api/providers") { request, _ in
            let actor = AdminAuthenticator.actor
            var body = try await AdminRequestBody.jsonObject(request)
            let id = try AdminRequestBody.identity(&body, "id")
            let provider = try AdminRequestBody.readObject { () throws(ConfigurationErrors) in
                try ObjectReader.provider(id: id, body: body, environment: environment)
            }
            try await refuseSelfReference(provider)
            try await writer.mapErrors { try await writer.put(.provider(provider), .create, actor: actor) }
            return Response.json(Self.json(provider), status: .created)
        }
        router.get("/api/providers/{id}") { request, context in
            return Response.json(Self.json(try await storedProvider(context.pathParameter("id"))))
        }
        router.put("/api/providers/{id}") { request, context in
            let actor = AdminAuthenticator.actor
            let stored = try await storedProvider(context.pathParameter("id"))
            let body = Self.keepingMaskedSecrets(try await AdminRequestBody.jsonObject(request), of: stored)
            let provider = try AdminRequestBody.readObject { () throws(ConfigurationErrors) in
                try ObjectReader.provider(id: stored.id, body: body, environment: environment)
            }.keepingSecrets(of: stored)
            try await refuseSelfReference(provider)
            try await writer.mapErrors { try await writer.put(.provider(provider), .update, actor: actor) }
            return Response.json(Self.json(provider))
        }
        router.delete("/api/providers/{id}") { request, context in
            let actor = AdminAuthenticator.actor
            let id = try context.pathParameter("id")
            try await writer.mapErrors { try await writer.delete("provider:\(id)", actor: actor) }
            return Response(status: .noContent)
        }
    }

    /// A provider whose base URL is this gateway would send every request round again: refused.
    private func refuseSelfReference(_ provider: ProviderSpec) async throws {
        guard provider.format != .mock, let baseURL = provider.effectiveBaseURL, await listening.isGateway(baseURL) else { return }
        throw AdminError(
            status: .unprocessableContent,
            message:
                "'base_url' leads to this gateway itself (\(URLCredentials.redacted(baseURL))): requests to the provider would come round again.",
            field: "base_url")
    }

    /// A body as a client sends it back after a GET: `null` leaves a key out, the stored key stays
    /// unless the body names one (or removes it with null), and a secret shown masked (key, header
    /// value, URL password) means "keep the stored one".
    static func keepingMaskedSecrets(_ body: [String: JSONValue], of stored: ProviderSpec) -> [String: JSONValue] {
        var body = body.filter { $0.key == "api_key" || $0.value != .null }
        switch body["api_key"] {
        case nil: body["api_key"] = stored.apiKey.map { .string($0.written) }
        case .null?: body["api_key"] = nil
        case let value? where value == masked(stored.apiKey): body["api_key"] = stored.apiKey.map { .string($0.written) }
        default: break
        }
        if case .object(var headers)? = body["headers"] {
            for (name, value) in headers {
                if let secret = stored.headers[name], value == masked(secret) { headers[name] = .string(secret.written) }
            }
            body["headers"] = .object(headers)
        }
        if let storedURL = stored.baseURL, body["base_url"] == .string(URLCredentials.redacted(storedURL)) {
            body["base_url"] = .string(storedURL)
        }
        return body
    }

    private func storedProvider(_ id: String) async throws -> ProviderSpec {
        guard let provider = await writer.configuration.providers.first(where: { $0.id == id }) else {
            throw AdminError.notFound("Provider '\(id)'", field: "id")
        }
        return provider
    }

    private func provider(_ id: String) async throws -> EffectiveConfiguration.Provider {
        guard let spec = await writer.configuration.providers.first(where: { $0.id == id && $0.enabled }) else {
            throw AdminError.notFound("Provider '\(id)'", field: "id")
        }
        return EffectiveConfiguration.Provider(spec: spec, environment: environment)
    }

    // MARK: JSON shapes

    /// `sk-…abcd`: never the key itself.
    static func masked(_ key: SecretReference?) -> JSONValue {
        switch key {
        case nil: return .null
        case .environment?: return .string(key!.written)
        case .literal(let value)?:
            return .string(value.count >= 12 ? "\(value.prefix(3))…\(value.suffix(4))" : "…")
        }
    }

    static func json(_ provider: ProviderSpec) -> JSONValue {
        .object([
            "id": .string(provider.id), "format": .string(provider.format.rawValue),
            "base_url": provider.baseURL.map { .string(URLCredentials.redacted($0)) } ?? .null,
            "api_key": masked(provider.apiKey), "headers": .object(provider.headers.mapValues(masked)),
            "region": provider.region.map(JSONValue.string) ?? .null, "timeout_seconds": provider.timeoutSeconds.map(JSONValue.number) ?? .null,
            "cost_input_per_mtok": .number(provider.costInputPerMillionTokens), "cost_output_per_mtok": .number(provider.costOutputPerMillionTokens),
            "health_check": .string(provider.healthCheck.rawValue), "health_check_model": provider.healthCheckModel.map(JSONValue.string) ?? .null,
            "api_version": provider.apiVersion.map(JSONValue.string) ?? .null, "models_path": provider.modelsPath.map(JSONValue.string) ?? .null,
            "speaks": provider.format == .mock ? .string(provider.speaks.rawValue) : .null,
            "responses": provider.responses.map(JSONValue.bool) ?? .null, "enabled": .bool(provider.enabled),
            "cost_cached_input_per_mtok": provider.costCachedInputPerMillionTokens.map(JSONValue.number) ?? .null,
            "cost_cache_write_per_mtok": provider.costCacheWritePerMillionTokens.map(JSONValue.number) ?? .null,
        ])
    }

    static func json(_ models: ProviderModels, format: ProviderFormat) -> JSONValue {
        .object([
            "provider": .string(models.provider), "format": .string(format.rawValue),
            "models": .array(models.models.map { .object(["id": .string($0)]) }), "fetched_at": .number(models.fetchedAt),
            "error": models.error.map(JSONValue.string) ?? .null,
        ])
    }
}
