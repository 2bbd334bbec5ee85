import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import SwitchyardCore

/// The configuration through the admin API: providers, models, users and settings (bodies read by
/// the seed's own readers), the seed's status, reload and export, traffic over time, and the system.
package struct ConfigurationAdminController: Sendable {
    let releases: ReleaseService
    let reloader: SeedReloader
    let stats: any StatsRepository
    let environment: [String: String]
    let databasePath: String?
    let startedAt: Double
    let listening: ListeningAddress

    package func addRoutes(to router: Router<GatewayContext>) {
        addProviderRoutes(to: router)
        addModelRoutes(to: router)
        addUserRoutes(to: router)
        addSystemRoutes(to: router)
    }

    // MARK: Providers

    private func addProviderRoutes(to router: Router<GatewayContext>) {
        router.get("/api/providers") { request, _ in
            return Response.json(.object(["providers": .array(await releases.configuration.providers.map(Self.json))]))
        }
        router.post("/api/providers") { request, _ in
            let actor = AdminAuthenticator.actor
            var body = try await AdminAuthenticator.jsonObject(request)
            let id = try Self.identity(&body, "id")
            let provider = try Self.read { () throws(ConfigurationErrors) in try ObjectReader.provider(id: id, body: body, environment: environment) }
            try await refuseSelfReference(provider)
            try await releases.mapErrors { try await releases.put(.provider(provider), .create, actor: actor) }
            return Response.json(Self.json(provider), status: .created)
        }
        router.get("/api/providers/{id}") { request, context in
            return Response.json(Self.json(try await provider(context.pathParameter("id"))))
        }
        router.put("/api/providers/{id}") { request, context in
            let actor = AdminAuthenticator.actor
            let stored = try await provider(context.pathParameter("id"))
            let body = Self.keepingMaskedSecrets(try await AdminAuthenticator.jsonObject(request), of: stored)
            let provider = try Self.read { () throws(ConfigurationErrors) in
                try ObjectReader.provider(id: stored.id, body: body, environment: environment)
            }.keepingSecrets(of: stored)
            try await refuseSelfReference(provider)
            try await releases.mapErrors { try await releases.put(.provider(provider), .update, actor: actor) }
            return Response.json(Self.json(provider))
        }
        router.delete("/api/providers/{id}") { request, context in
            let actor = AdminAuthenticator.actor
            let id = try context.pathParameter("id")
            try await releases.mapErrors { try await releases.delete("provider:\(id)", actor: actor) }
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

    private func provider(_ id: String) async throws -> ProviderSpec {
        guard let provider = await releases.configuration.providers.first(where: { $0.id == id }) else {
            throw AdminError.notFound("Provider '\(id)'", field: "id")
        }
        return provider
    }

    // MARK: Models

    private func addModelRoutes(to router: Router<GatewayContext>) {
        router.get("/api/models") { request, _ in
            return Response.json(.object(["models": .array(await releases.configuration.models.map(Self.json))]))
        }
        router.post("/api/models") { request, _ in
            let actor = AdminAuthenticator.actor
            var body = try await AdminAuthenticator.jsonObject(request)
            let name = try Self.identity(&body, "name")
            let model = try await readModel(name: name, body: body)
            try await releases.mapErrors { try await releases.put(.model(model), .create, actor: actor) }
            return Response.json(Self.json(model), status: .created)
        }
        router.get("/api/models/{model}") { request, context in
            let name = try context.pathParameter("model")
            guard let model = await releases.configuration.models.first(where: { $0.name == name }) else {
                throw AdminError.notFound("Model '\(name)'", field: "name")
            }
            return Response.json(Self.json(model))
        }
        router.put("/api/models/{model}") { request, context in
            let actor = AdminAuthenticator.actor
            let name = try context.pathParameter("model")
            let model = try await readModel(name: name, body: try await AdminAuthenticator.jsonObject(request))
            try await releases.mapErrors { try await releases.put(.model(model), .update, actor: actor) }
            return Response.json(Self.json(model))
        }
        router.delete("/api/models/{model}") { request, context in
            let actor = AdminAuthenticator.actor
            let name = try context.pathParameter("model")
            try await releases.mapErrors { try await releases.delete("model:\(name)", actor: actor) }
            return Response(status: .noContent)
        }
    }

    private func readModel(name: String, body: [String: JSONValue]) async throws -> ModelSpec {
        let configuration = await releases.configuration
        return try Self.read { () throws(ConfigurationErrors) in
            try ObjectReader.model(name: name, body: body, providers: configuration.providers, settings: configuration.settings)
        }
    }

    // MARK: Users

    private func addUserRoutes(to router: Router<GatewayContext>) {
        router.get("/api/users") { request, _ in
            return Response.json(.object(["users": .array(await releases.configuration.users.map(Self.json))]))
        }
        router.post("/api/users") { request, _ in
            let actor = AdminAuthenticator.actor
            var body = try await AdminAuthenticator.jsonObject(request)
            let id = try Self.identity(&body, "id")
            let token = Self.newToken()
            let models = await Set(releases.configuration.models.map(\.name))
            let user = try Self.read { () throws(ConfigurationErrors) in
                try ObjectReader.user(id: id, body: body, token: token, knownModels: models)
            }
            try await releases.mapErrors { try await releases.put(.user(user), .create, actor: actor) }
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
            let body = try await AdminAuthenticator.jsonObject(request)
            let models = await Set(releases.configuration.models.map(\.name))
            let user = try Self.read { () throws(ConfigurationErrors) in try ObjectReader.userUpdate(stored, body: body, knownModels: models) }
            try await releases.mapErrors { try await releases.put(.user(user), .update, actor: actor) }
            return Response.json(Self.json(user))
        }
        router.delete("/api/users/{id}") { request, context in
            let actor = AdminAuthenticator.actor
            let id = try context.pathParameter("id")
            try await releases.mapErrors { try await releases.delete("user:\(id)", actor: actor) }
            return Response(status: .noContent)
        }
        router.post("/api/users/{id}/rotate-token") { request, context in
            let actor = AdminAuthenticator.actor
            var user = try await user(context.pathParameter("id"))
            let token = Self.newToken()
            user.tokenDigest = TokenDigest(token: token)
            try await releases.mapErrors { try await releases.put(.user(user), .update, actor: actor) }
            return Response.json(.object(["id": .string(user.id), "token": .string(token)]))
        }
    }

    private func user(_ id: String) async throws -> UserSpec {
        guard let user = await releases.configuration.users.first(where: { $0.id == id }) else {
            throw AdminError.notFound("User '\(id)'", field: "id")
        }
        return user
    }

    /// `sk-sy-` and 40 hex characters (160 random bits).
    static func newToken() -> String {
        "sk-sy-" + RequestIdentifier.make() + RequestIdentifier.make().prefix(16)
    }

    // MARK: Settings, stats, system, config

    private func addSystemRoutes(to router: Router<GatewayContext>) {
        router.get("/api/settings") { request, _ in
            return Response.json(Self.json(await releases.configuration.settings))
        }
        router.put("/api/settings") { request, _ in
            let actor = AdminAuthenticator.actor
            let body = try await AdminAuthenticator.jsonObject(request)
            let current = await releases.configuration.settings
            let settings = try Self.read { () throws(ConfigurationErrors) in try ObjectReader.settings(body: body, over: current) }
            try await releases.mapErrors { try await releases.put(.settings(settings), .update, actor: actor) }
            return Response.json(Self.json(settings))
        }
        router.get("/api/stats/timeseries") { request, _ in
            let query = try Self.timeseriesQuery(request)
            let points = try await stats.timeseries(query)
            return Response.json(
                .object([
                    "from": .number(query.from), "to": .number(query.to), "step": .number(Double(query.step)),
                    "points": .array(points.map(Self.json)),
                ]))
        }
        router.get("/api/system") { request, _ in
            let counts = await releases.counts
            let now = Date().timeIntervalSince1970
            return Response.json(
                .object([
                    "version": .string(SwitchyardVersion.current), "started_at": .number(startedAt), "uptime_seconds": .number(now - startedAt),
                    "database": .object([
                        "path": databasePath.map(JSONValue.string) ?? .null,
                        "size_bytes": Self.fileSize(databasePath).map { .number(Double($0)) } ?? .null,
                    ]),
                    "counts": .object([
                        "providers": .number(Double(counts.providers)), "models": .number(Double(counts.models)),
                        "users": .number(Double(counts.users)), "experiments": .number(Double(counts.experiments)),
                        "running_rollouts": .number(Double(counts.runningRollouts)),
                    ]),
                ]))
        }
        router.get("/api/config/status") { request, _ in
            return Response.json(Self.json(await reloader.current))
        }
        router.post("/api/config/reload") { request, _ in
            guard await reloader.current.path != nil else {
                throw AdminError(status: .conflict, message: "The gateway runs on the built-in example seed: there is no file to reload.")
            }
            let status = await reloader.reload(trigger: "api")
            if status.result == .invalid, let first = status.errors.first {
                throw AdminError(
                    status: .unprocessableContent, message: "The seed file is invalid; nothing was applied: \(first.reason)",
                    field: first.key.isEmpty ? nil : first.key)
            }
            return Response.json(Self.json(status))
        }
        router.get("/api/config/export") { request, _ in
            let text = SeedExport.text(
                await releases.configuration,
                header:
                    "Switchyard configuration exported \(Date().formatted(.iso8601)).\nSecrets are not exported: literal keys and user tokens read \"<redacted>\","
                    + " which keeps the stored secret when this file is applied as the seed.")
            let body = ByteBuffer(string: text)
            return Response(
                status: .ok, headers: [.contentType: "text/plain; charset=utf-8", .contentLength: String(body.readableBytes)],
                body: .init(byteBuffer: body))
        }
    }

    static func timeseriesQuery(_ request: Request) throws -> TimeseriesQuery {
        let parameters = request.uri.queryParameters
        let now = Date().timeIntervalSince1970
        // Seconds from 1970 to the year 9999, as everywhere else; anything else cannot be a bucket.
        let years = 0.0...253_402_300_799
        let to = try UsageAdminController.time(parameters.get("to"), field: "to") ?? now
        guard years.contains(to) else { throw AdminError.invalid("to", "'to' must lie between 1970 and 9999.") }
        let from = try UsageAdminController.time(parameters.get("from"), field: "from") ?? to - 3_600
        guard years.contains(from) else { throw AdminError.invalid("from", "'from' must lie between 1970 and 9999.") }
        var step = 60
        if let text = parameters.get("step") {
            guard let value = Int(text), value >= 60, value % 60 == 0 else {
                throw AdminError.invalid("step", "'step' is a whole number of seconds, a multiple of 60.")
            }
            step = value
        }
        guard from < to else { throw AdminError.invalid("from", "'from' must be before 'to'.") }
        // Buckets start on whole minutes, as the rollups do.
        let start = (from / 60).rounded(.down) * 60
        let query = TimeseriesQuery(
            model: parameters.get("model"), version: parameters.get("version"), backend: parameters.get("backend"), from: start, to: to, step: step)
        guard query.count <= 1_440 else {
            throw AdminError.invalid("step", "At most 1440 buckets: widen 'step' or narrow 'from'…'to' (\(query.count) asked).")
        }
        return query
    }

    static func fileSize(_ path: String?) -> Int? {
        guard let path else { return nil }
        let sizes = [path, path + "-wal"].compactMap { (try? FileManager.default.attributesOfItem(atPath: $0))?[.size] as? Int }
        return sizes.isEmpty ? nil : sizes.reduce(0, +)
    }

    // MARK: Reading bodies

    /// Takes the object's identity out of a create body.
    private static func identity(_ body: inout [String: JSONValue], _ key: String) throws -> String {
        guard let value = body.removeValue(forKey: key) else {
            throw AdminError(status: .unprocessableContent, message: "'\(key)' is required.", field: key)
        }
        guard case .string(let text) = value, !text.contains("/") else {
            throw AdminError(status: .unprocessableContent, message: "'\(key)' must be a non-empty string without '/'.", field: key)
        }
        if let problem = ObjectName.problem(text) {
            throw AdminError(status: .unprocessableContent, message: "'\(key)' \(problem).", field: key)
        }
        return text
    }

    private static func read<T>(_ body: () throws(ConfigurationErrors) -> T) throws -> T {
        do {
            return try body()
        } catch {
            let first = error.errors.first
            throw AdminError(
                status: .unprocessableContent, message: first?.reason ?? "The body is not valid.",
                field: first.flatMap { $0.key.isEmpty ? nil : $0.key })
        }
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
            "speaks": provider.format == .mock ? .string(provider.speaks.rawValue) : .null, "enabled": .bool(provider.enabled),
        ])
    }

    static func json(_ model: ModelSpec) -> JSONValue {
        .object([
            "name": .string(model.name), "strategy": .string(model.strategy.rawValue), "sticky": .string(model.sticky.rawValue),
            "hash_seed": .string(model.effectiveHashSeed), "release_strategy": .string(model.releaseStrategy.rawValue),
            "enabled": .bool(model.enabled), "default": .string(model.defaultVersionName),
            "versions": .array(model.versions.map(ReleaseAdminController.json)),
        ])
    }

    static func json(_ user: UserSpec) -> JSONValue {
        let tables = SeedExport.userTable(user)
        return .object([
            "id": .string(user.id), "name": user.name.map(JSONValue.string) ?? .null,
            "allowed_models": .array(user.allowedModels.map(JSONValue.string)), "tags": .array(user.tags.map(JSONValue.string)),
            "region": user.region.map(JSONValue.string) ?? .null, "rate_limit": tables["rate_limit"].map(JSONValue.init(toml:)) ?? .null,
            "budget": tables["budget"].map(JSONValue.init(toml:)) ?? .null, "enabled": .bool(user.enabled),
        ])
    }

    static func json(_ settings: GatewaySettings) -> JSONValue {
        JSONValue(toml: .table(SeedExport.settingsTable(settings)))
    }

    static func json(_ point: TimeseriesPoint) -> JSONValue {
        func number(_ value: Double?) -> JSONValue { value.map(JSONValue.number) ?? .null }
        return .object([
            "time": .number(point.time), "requests": .number(Double(point.requests)), "errors": .number(Double(point.errors)),
            "error_rate": point.requests > 0 ? .number(Double(point.errors) / Double(point.requests)) : .null,
            "latency_p50_ms": number(point.latency.quantileEstimate(0.5)), "latency_p95_ms": number(point.latency.quantileEstimate(0.95)),
            "ttft_p50_ms": number(point.ttft.quantileEstimate(0.5)), "ttft_p95_ms": number(point.ttft.quantileEstimate(0.95)),
            "tokens_in": .number(Double(point.inputTokens)), "tokens_out": .number(Double(point.outputTokens)), "cost_usd": .number(point.costUSD),
        ])
    }

    static func json(_ status: SeedStatus) -> JSONValue {
        .object([
            "seed_path": status.path.map(JSONValue.string) ?? .null, "watching": .bool(status.watching),
            "last_attempt_at": status.lastAttemptAt.map(JSONValue.number) ?? .null,
            "last_applied_at": status.lastAppliedAt.map(JSONValue.number) ?? .null, "last_hash": status.lastHash.map(JSONValue.string) ?? .null,
            "result": .string(status.result.rawValue),
            "errors": .array(
                status.errors.map { .object(["key": .string($0.key), "reason": .string($0.reason), "message": .string("\($0)")]) }),
            "changed": .array(status.changed.map(JSONValue.string)),
        ])
    }
}
