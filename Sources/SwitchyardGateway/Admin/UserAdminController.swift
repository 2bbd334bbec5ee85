import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import SwitchyardCore

/// Users through the admin API: create (the token is shown once), read, change, delete, rotate the token.
package struct UserAdminController: Sendable {
    let writer: ConfigurationWriter

    package func addRoutes(to router: Router<GatewayContext>) {
        router.get("/api/users") { request, _ in
            return Response.json(.object(["users": .array(await writer.configuration.users.map(Self.json))]))
        }
        router.post("/api/users") { request, _ in
            let actor = AdminAuthenticator.actor
            var body = try await AdminRequestBody.jsonObject(request)
            let id = try AdminRequestBody.identity(&body, "id")
            let token = Self.newToken()
            let models = await Set(writer.configuration.models.map(\.name))
            let user = try AdminRequestBody.readObject { () throws(ConfigurationErrors) in
                try ObjectReader.user(id: id, body: body, token: token, knownModels: models)
            }
            try await writer.mapErrors { try await writer.put(.user(user), .create, actor: actor) }
            var json = Self.json(user).objectValue ?? [:]
            json["token"] = .string(token)
            return Response.json(.object(json), status: .created)
        }
        router.get("/api/users/{id}") { request, context in
            return Response.json(Self.json(try await user(context.pathParameter("id"))))
        }
        router.put("/api/users/{id}") { request, context in
            let actor = AdminAuthenticator.actor
            let stored = try await user(context.pathParameter("id"))
            let body = try await AdminRequestBody.jsonObject(request)
            let models = await Set(writer.configuration.models.map(\.name))
            let user = try AdminRequestBody.readObject { () throws(ConfigurationErrors) in
                try ObjectReader.userUpdate(stored, body: body, knownModels: models)
            }
            try await writer.mapErrors { try await writer.put(.user(user), .update, actor: actor) }
            return Response.json(Self.json(user))
        }
        router.delete("/api/users/{id}") { request, context in
            let actor = AdminAuthenticator.actor
            let id = try context.pathParameter("id")
            try await writer.mapErrors { try await writer.delete("user:\(id)", actor: actor) }
            return Response(status: .noContent)
        }
        router.post("/api/users/{id}/rotate-token") { request, context in
            let actor = AdminAuthenticator.actor
            var user = try await user(context.pathParameter("id"))
            let token = Self.newToken()
            user.tokenDigest = TokenDigest(token: token)
            try await writer.mapErrors { try await writer.put(.user(user), .update, actor: actor) }
            return Response.json(.object(["id": .string(user.id), "token": .string(token)]))
        }
    }

    private func user(_ id: String) async throws -> UserSpec {
        guard let user = await writer.configuration.users.first(where: { $0.id == id }) else {
            throw AdminError.notFound("User '\(id)'", field: "id")
        }
        return user
    }

    /// `sk-sy-` and 40 hex characters (160 random bits).
    static func newToken() -> String {
        "sk-sy-" + RequestIdentifier.make() + RequestIdentifier.make().prefix(16)
    }

    // MARK: JSON shapes

    static func json(_ user: UserSpec) -> JSONValue {
        let tables = SeedExport.userTable(user)
        return .object([
            "id": .string(user.id), "name": user.name.map(JSONValue.string) ?? .null,
            "allowed_models": .array(user.allowedModels.map(JSONValue.string)), "tags": .array(user.tags.map(JSONValue.string)),
            "region": user.region.map(JSONValue.string) ?? .null, "rate_limit": tables["rate_limit"].map(JSONValue.init(toml:)) ?? .null,
            "budget": tables["budget"].map(JSONValue.init(toml:)) ?? .null, "enabled": .bool(user.enabled),
        ])
    }
}
