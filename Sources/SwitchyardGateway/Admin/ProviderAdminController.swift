import Hummingbird
import SwitchyardCore

/// `GET /api/providers/{id}/models` and `POST /api/providers/{id}/refresh-models`: the models a provider offers.
package struct ProviderAdminController: Sendable {
    let releases: ReleaseService
    let discovery: ModelDiscovery
    let environment: [String: String]

    package func addRoutes(to router: Router<GatewayContext>) {
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

    private func provider(_ id: String) async throws -> EffectiveConfiguration.Provider {
        guard let spec = await releases.configuration.providers.first(where: { $0.id == id && $0.enabled }) else {
            throw AdminError.notFound("Provider '\(id)'", field: "id")
        }
        return EffectiveConfiguration.Provider(spec: spec, environment: environment)
    }

    static func json(_ models: ProviderModels, format: ProviderFormat) -> JSONValue {
        .object([
            "provider": .string(models.provider), "format": .string(format.rawValue),
            "models": .array(models.models.map { .object(["id": .string($0)]) }), "fetched_at": .number(models.fetchedAt),
            "error": models.error.map(JSONValue.string) ?? .null,
        ])
    }
}
