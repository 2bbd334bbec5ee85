import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import SwitchyardCore

/// A model and its release through the admin API: the model itself (read by the seed's own
/// readers), its versions, split, default, rollback and release strategy. Every change goes
/// through `ConfigurationWriter`: one transaction with its audit row, then a snapshot swap, so the next
/// routed request sees it.
package struct ModelAdminController: Sendable {
    let writer: ConfigurationWriter

    package func addRoutes(to router: Router<GatewayContext>) {
        router.get("/api/models") { request, _ in
            return Response.json(.object(["models": .array(await writer.configuration.models.map(Self.json))]))
        }
        router.post("/api/models") { request, _ in
            let actor = AdminAuthenticator.actor
            var body = try await AdminRequestBody.jsonObject(request)
            let name = try AdminRequestBody.identity(&body, "name")
            let model = try await readModel(name: name, body: body)
            try await writer.mapErrors { try await writer.put(.model(model), .create, actor: actor) }
            return Response.json(Self.json(model), status: .created)
        }
        router.get("/api/models/{model}") { request, context in
            let name = try context.pathParameter("model")
            guard let model = await writer.configuration.models.first(where: { $0.name == name }) else {
                throw AdminError.notFound("Model '\(name)'", field: "name")
            }
            return Response.json(Self.json(model))
        }
        router.put("/api/models/{model}") { request, context in
            let actor = AdminAuthenticator.actor
            let name = try context.pathParameter("model")
            let model = try await readModel(name: name, body: try await AdminRequestBody.jsonObject(request))
            try await writer.mapErrors { try await writer.put(.model(model), .update, actor: actor) }
            return Response.json(Self.json(model))
        }
        router.delete("/api/models/{model}") { request, context in
            let actor = AdminAuthenticator.actor
            let name = try context.pathParameter("model")
            try await writer.mapErrors { try await writer.delete("model:\(name)", actor: actor) }
            return Response(status: .noContent)
        }
        let models = "/api/models/{model}"
        router.get("\(models)/versions") { request, context in
            let model = try await writer.mapErrors { try await writer.model(context.pathParameter("model")) }
            let times = try await writer.versionTimes(model: model.name)
            let versions: [JSONValue] = model.versions.map { version in
                var json = Self.json(version).objectValue ?? [:]
                json["created_at"] = times[version.name].map { .number($0.createdAt) } ?? .null
                json["updated_at"] = times[version.name].map { .number($0.updatedAt) } ?? .null
                return .object(json)
            }
            return Response.json(.object(["model": .string(model.name), "versions": .array(versions)]))
        }
        router.post("\(models)/versions") { request, context in
            let actor = AdminAuthenticator.actor
            let body = try await AdminRequestBody.jsonObject(request)
            let name = try context.pathParameter("model")
            let providers = await Set(writer.configuration.providers.map(\.id))
            let version = try AdminRequestBody.read(body) { Self.readVersion(from: $0, providers: providers, requireName: true) }
            let model = try await writer.mapErrors {
                try await writer.change(model: name, actor: actor, action: "create_version") { model throws(ReleaseError) in
                    guard !model.versions.contains(where: { $0.name == version.name }) else {
                        throw .conflict("name", "Version '\(version.name)' exists already.")
                    }
                    guard model.versions.count < ObjectName.maximumVersionsPerModel else {
                        throw .invalid("name", "At most \(ObjectName.maximumVersionsPerModel) versions per model; delete one first.")
                    }
                    var changed = model
                    changed.versions.append(
                        VersionSpec(
                            name: version.name, weightBasisPoints: 0, isDefault: false, isActive: version.isActive, params: version.params,
                            backends: version.backends))
                    return try changed.orderedForRelease().withWeight(version.weightBasisPoints, for: version.name)
                }
            }
            return Response.json(Self.json(try Self.version(version.name, in: model)), status: .created)
        }
        router.put("\(models)/versions/{version}") { request, context in
            let actor = AdminAuthenticator.actor
            let body = try await AdminRequestBody.jsonObject(request)
            let (name, versionName) = (try context.pathParameter("model"), try context.pathParameter("version"))
            let providers = await Set(writer.configuration.providers.map(\.id))
            let update = try AdminRequestBody.read(body) { Self.readVersionUpdate(from: $0, providers: providers) }
            let model = try await writer.mapErrors {
                try await writer.change(model: name, actor: actor, action: "update_version") { model throws(ReleaseError) in
                    var changed = model
                    let index = try changed.versionIndex(versionName)
                    if let params = update.params { changed.versions[index].params = params }
                    if let backends = update.backends { changed.versions[index].backends = backends }
                    if let active = update.isActive {
                        guard active || !changed.versions[index].isDefault else {
                            throw .invalid("active", "The default version cannot be deactivated.")
                        }
                        if !active { changed = try changed.withWeight(0, for: versionName) }
                        changed.versions[index].isActive = active
                    }
                    if let weight = update.weightBasisPoints { changed = try changed.withWeight(weight, for: versionName) }
                    return changed
                }
            }
            return Response.json(Self.json(try Self.version(versionName, in: model)))
        }
        router.delete("\(models)/versions/{version}") { request, context in
            let actor = AdminAuthenticator.actor
            let (name, versionName) = (try context.pathParameter("model"), try context.pathParameter("version"))
            try await writer.mapErrors {
                try await writer.change(model: name, actor: actor, action: "delete_version") { model throws(ReleaseError) in
                    let index = try model.versionIndex(versionName)
                    guard !model.versions[index].isDefault else { throw .invalid("version", "The default version cannot be deleted.") }
                    var changed = try model.withWeight(0, for: versionName)
                    changed.versions.remove(at: index)
                    return changed
                }
            }
            return Response(status: .noContent)
        }
        router.put("\(models)/split") { request, context in
            let actor = AdminAuthenticator.actor
            let body = try await AdminRequestBody.jsonObject(request)
            let weights = try Self.readSplit(body)
            let model = try await writer.mapErrors {
                try await writer.change(model: context.pathParameter("model"), actor: actor, action: "set_split") {
                    model throws(ReleaseError) in
                    try model.withSplit(weights)
                }
            }
            return try await release(of: model.name)
        }
        router.put("\(models)/weight") { request, context in
            let actor = AdminAuthenticator.actor
            let body = try await AdminRequestBody.jsonObject(request)
            let (version, weight) = try AdminRequestBody.read(body) { table -> (String, Int)? in
                let version = table.requiredString("version")
                let weight = Self.readPercent(table, "weight", required: true)
                table.rejectUnknownKeys()
                guard let version, let weight else { return nil }
                return (version, weight)
            }
            let model = try await writer.mapErrors {
                try await writer.change(model: context.pathParameter("model"), actor: actor, action: "set_weight") {
                    model throws(ReleaseError) in
                    try model.withWeight(weight, for: version)
                }
            }
            return try await release(of: model.name)
        }
        router.put("\(models)/default") { request, context in
            let actor = AdminAuthenticator.actor
            let version = try AdminRequestBody.read(try await AdminRequestBody.jsonObject(request)) { table -> String? in
                defer { table.rejectUnknownKeys() }
                return table.requiredString("version")
            }
            let model = try await writer.mapErrors {
                try await writer.change(model: context.pathParameter("model"), actor: actor, action: "set_default") {
                    model throws(ReleaseError) in
                    try model.withDefault(version)
                }
            }
            return try await release(of: model.name)
        }
        router.post("\(models)/rollback") { request, context in
            let actor = AdminAuthenticator.actor
            let target = try AdminRequestBody.read(try await AdminRequestBody.jsonObject(request)) { table -> String?? in
                defer { table.rejectUnknownKeys() }
                return .some(table.string("to"))
            }
            let model = try await writer.mapErrors {
                try await writer.change(model: context.pathParameter("model"), actor: actor, action: "rollback") {
                    model throws(ReleaseError) in
                    guard let to = target ?? model.rollbackTarget else {
                        throw .invalid("to", "No earlier default version is known; name the version with \"to\".")
                    }
                    return try model.rolledBack(to: to)
                }
            }
            return try await release(of: model.name)
        }
        router.put("\(models)/release") { request, context in
            let actor = AdminAuthenticator.actor
            let strategy = try AdminRequestBody.read(try await AdminRequestBody.jsonObject(request)) { table -> ReleaseStrategy? in
                defer { table.rejectUnknownKeys() }
                guard let name = table.requiredString("strategy") else { return nil }
                guard let strategy = ReleaseStrategy(rawValue: name) else {
                    table.fail("strategy", "unknown release strategy \"\(name)\" (supported: weight, health, round_robin)")
                    return nil
                }
                return strategy
            }
            let model = try await writer.mapErrors {
                try await writer.change(model: context.pathParameter("model"), actor: actor, action: "set_release_strategy") {
                    model throws(ReleaseError) in
                    var changed = model
                    changed.releaseStrategy = strategy
                    return changed
                }
            }
            return try await release(of: model.name)
        }
        router.get("\(models)/release") { request, context in
            return try await release(of: context.pathParameter("model"))
        }
        router.post("\(models)/refresh") { request, context in
            try await writer.reload()
            return try await release(of: context.pathParameter("model"))
        }
    }

    private func readModel(name: String, body: [String: JSONValue]) async throws -> ModelSpec {
        let configuration = await writer.configuration
        return try AdminRequestBody.readObject { () throws(ConfigurationErrors) in
            try ObjectReader.model(name: name, body: body, providers: configuration.providers, settings: configuration.settings)
        }
    }

    private func release(of name: String) async throws -> Response {
        let (model, rollout) = try await writer.mapErrors { () async throws -> (ModelSpec, Rollout?) in
            (try await writer.model(name), await writer.activeRollout(of: name))
        }
        let split: JSONValue = .object(
            Dictionary(
                uniqueKeysWithValues: model.versions.filter(\.isActive).map { ($0.name, JSONValue.number(Double($0.weightBasisPoints) / 100)) }))
        return Response.json(
            .object([
                "model": .string(model.name), "default": .string(model.defaultVersionName), "split": split,
                "strategy": .string(model.releaseStrategy.rawValue),
                "effective_strategy": .string(rollout == nil ? model.releaseStrategy.rawValue : ReleaseStrategy.weight.rawValue),
                "sticky": .string(model.sticky.rawValue), "hash_seed": .string(model.effectiveHashSeed),
                "previous_default": model.previousDefault.map(JSONValue.string) ?? .null,
                "rollout": rollout.map(RolloutAdminController.json) ?? .null, "versions": .array(model.versions.map(Self.json)),
            ]))
    }

    // MARK: Reading bodies

    private struct VersionUpdate {
        var weightBasisPoints: Int?
        var params: [String: JSONValue]?
        var backends: [BackendSpec]?
        var isActive: Bool?
    }

    private static func readPercent(_ table: TableReader, _ key: String, required: Bool = false) -> Int? {
        guard table.values[key] != nil else {
            if required { table.fail(key, "is required") }
            return nil
        }
        guard let percent = table.number(key, in: 0...100) else { return nil }
        guard let points = basisPoints(fromPercent: percent) else {
            table.fail(key, "a percentage with at most two decimals, got \(percent)")
            return nil
        }
        return points
    }

    private static func readBackends(_ table: TableReader, providers: Set<String>) -> [BackendSpec]? {
        guard let tables = table.tables("backends") else { return nil }
        if tables.isEmpty { table.fail("backends", "needs at least one backend") }
        table.checkCount(tables.count, of: "backends", atMost: ObjectName.maximumBackendsPerVersion, what: "backends per version")
        guard tables.count <= ObjectName.maximumBackendsPerVersion else { return nil }
        return tables.compactMap { backendTable in
            guard let backend = BackendSpec.read(from: backendTable) else { return nil }
            guard providers.contains(backend.provider) else {
                backendTable.fail("provider", "unknown provider \"\(backend.provider)\"")
                return nil
            }
            return backend
        }
    }

    private static func readVersion(from table: TableReader, providers: Set<String>, requireName: Bool) -> VersionSpec? {
        let name = table.requiredName("name")
        let weight = readPercent(table, "weight") ?? 0
        let params = table.jsonObject("params") ?? [:]
        let active = table.bool("active") ?? true
        let backends = readBackends(table, providers: providers)
        if table.values["backends"] == nil { table.fail("backends", "is required") }
        table.rejectUnknownKeys()
        guard let name, let backends, !name.isEmpty else { return nil }
        return VersionSpec(name: name, weightBasisPoints: weight, isDefault: false, isActive: active, params: params, backends: backends)
    }

    private static func readVersionUpdate(from table: TableReader, providers: Set<String>) -> VersionUpdate? {
        let update = VersionUpdate(
            weightBasisPoints: readPercent(table, "weight"), params: table.jsonObject("params"), backends: readBackends(table, providers: providers),
            isActive: table.bool("active"))
        table.rejectUnknownKeys()
        return update
    }

    private static func readSplit(_ body: [String: JSONValue]) throws -> [String: Int] {
        guard body.count == 1, case .object(let weights)? = body["weights"] else {
            throw AdminError(status: .unprocessableContent, message: "Expected {\"weights\": {\"VERSION\": PERCENT, …}}.", field: "weights")
        }
        var result: [String: Int] = [:]
        for (name, value) in weights {
            guard case .number(let percent) = value, (0...100).contains(percent), let points = basisPoints(fromPercent: percent) else {
                throw AdminError(
                    status: .unprocessableContent, message: "A percentage from 0 to 100 with at most two decimals is needed.",
                    field: "weights.\(name)")
            }
            result[name] = points
        }
        return result
    }

    private static func version(_ name: String, in model: ModelSpec) throws -> VersionSpec {
        guard let version = model.versions.first(where: { $0.name == name }) else { throw AdminError.notFound("Version '\(name)'", field: "version") }
        return version
    }

    // MARK: JSON shapes

    static func json(_ model: ModelSpec) -> JSONValue {
        .object([
            "name": .string(model.name), "strategy": .string(model.strategy.rawValue), "sticky": .string(model.sticky.rawValue),
            "hash_seed": .string(model.effectiveHashSeed), "release_strategy": .string(model.releaseStrategy.rawValue),
            "enabled": .bool(model.enabled), "default": .string(model.defaultVersionName),
            "versions": .array(model.versions.map(Self.json)), "shadow": model.shadow.map(ShadowAdminController.json) ?? .null,
        ])
    }

    static func json(_ version: VersionSpec) -> JSONValue {
        .object([
            "name": .string(version.name), "weight": .number(Double(version.weightBasisPoints) / 100), "is_active": .bool(version.isActive),
            "is_default": .bool(version.isDefault), "params": .object(version.params),
            "backends": .array(
                version.backends.map { backend in
                    .object([
                        "provider": .string(backend.provider), "model": .string(backend.model), "weight": .number(backend.weight),
                        "priority": .number(Double(backend.priority)), "tags": .array(backend.tags.map(JSONValue.string)),
                        "deployment": backend.deployment.map(JSONValue.string) ?? .null,
                    ])
                }),
        ])
    }
}
