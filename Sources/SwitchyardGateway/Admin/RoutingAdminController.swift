import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import SwitchyardCore

/// Admin endpoints about routing: explain a decision, backend health, effective weights, sessions.
package struct RoutingAdminController: Sendable {
    let configuration: ConfigurationHolder
    let client: LiveRouter
    let health: HealthRegistry
    let sessions: SessionTable

    package func addRoutes(to router: Router<GatewayContext>) {
        router.post("/api/routing/decide") { request, context in
            return try await decide(request)
        }
        router.get("/api/health/backends") { request, _ in
            return backendHealth()
        }
        router.get("/api/models/{model}/weights") { request, context in
            return try weights(of: context.pathParameter("model"))
        }
        router.get("/api/routing/sessions/{id}") { request, context in
            let id = try context.pathParameter("id")
            let found = sessions.bindings(withID: id)
            guard let first = found.first else { throw AdminError.notFound("Session '\(id)'", field: "id") }
            var body = Self.json(first).objectValue ?? [:]
            body["bindings"] = .array(found.map(Self.json))
            return Response.json(.object(body))
        }
        router.delete("/api/routing/sessions/{id}") { request, context in
            let id = try context.pathParameter("id")
            guard sessions.remove(id) else { throw AdminError.notFound("Session '\(id)'", field: "id") }
            return Response(status: .noContent)
        }
    }

    // MARK: Decide

    private func decide(_ request: Request) async throws -> Response {
        let body = try await AdminRequestBody.jsonObject(request)
        let known: Set<String> = [
            "model", "user", "api_user", "session_id", "strategy", "preferred_region", "exclude_providers", "prompt", "max_tokens",
            "endpoint", "previous_response_id",
        ]
        if let unknown = body.keys.sorted().first(where: { !known.contains($0) }) {
            throw AdminError.invalid(unknown, "Unknown field '\(unknown)'.")
        }
        guard case .string(let model)? = body["model"] else { throw AdminError.invalid("model", "'model' must be a string.") }
        let configuration = self.configuration.current
        guard configuration.models[model] != nil else { throw AdminError.notFound("Model '\(model)'", field: "model") }

        // `user` is the request's OpenAI `user` value (the raw sticky key); `api_user` names the
        // authenticated user whose allowed models and tags apply.
        var user = UserSpec(id: "", tokenDigest: TokenDigest(token: ""))
        if let userID = try optionalString(body, "api_user") {
            guard let found = configuration.usersByDigest.values.first(where: { $0.id == userID }) else {
                throw AdminError.notFound("User '\(userID)'", field: "api_user")
            }
            user = found
        }
        let endUser = try optionalString(body, "user")
        var strategy: BalancingStrategy?
        if let value = body["strategy"] {
            guard case .string(let name) = value, let parsed = BalancingStrategy(configName: name) else {
                throw AdminError.invalid(
                    "strategy", "Unknown strategy; one of: \(BalancingStrategy.allCases.map(\.rawValue).joined(separator: ", ")).")
            }
            strategy = parsed
        }
        var endpoint = Endpoint.chatCompletions
        if let path = try optionalString(body, "endpoint") {
            guard let parsed = Endpoint(rawValue: path.hasPrefix("/v1/") ? String(path.dropFirst(4)) : path) else {
                throw AdminError.invalid(
                    "endpoint", "Unknown endpoint; one of: \(Endpoint.allCases.map(\.rawValue).joined(separator: ", ")) (with or without /v1/).")
            }
            endpoint = parsed
        }
        // A follow-up response belongs to the conversation of the response it continues, as on the request path.
        let previousResponseID = try optionalString(body, "previous_response_id")
        if previousResponseID != nil, endpoint != .responses {
            throw AdminError.invalid("previous_response_id", "'previous_response_id' belongs to the responses endpoint.")
        }
        let sessionID = try previousResponseID ?? optionalString(body, "session_id")
        let region = try optionalString(body, "preferred_region")
        var excluded: Set<String> = []
        if let value = body["exclude_providers"] {
            guard case .array(let items) = value, let names = Optional(items.compactMap(\.stringValue)), names.count == items.count else {
                throw AdminError.invalid("exclude_providers", "'exclude_providers' must be an array of strings.")
            }
            excluded = Set(names)
        }
        var estimateBody: [String: JSONValue] = [:]
        if let prompt = try optionalString(body, "prompt") {
            estimateBody["messages"] = .array([.object(["role": "user", "content": .string(prompt)])])
        }
        if let maxTokens = body["max_tokens"] {
            guard case .number = maxTokens else { throw AdminError.invalid("max_tokens", "'max_tokens' must be a number.") }
            estimateBody["max_tokens"] = maxTokens
        }
        let routeRequest = RouteRequest(
            model: model, user: user, endUser: endUser, sessionID: sessionID,
            session: sessionID.flatMap { sessions.binding(for: $0, user: user.id) }, preferredRegion: region,
            excludedProviders: excluded, estimate: LiveRouter.estimate(estimateBody), strategyOverride: strategy)
        let decision: RouteDecision
        do {
            var random = SplitMix64.seededBySystem()
            decision = try client.route(routeRequest, in: configuration, dryRun: true, using: &random)
        } catch let error as GatewayError where error.status.code >= 500 {
            // The question was fine; the model's present state is what cannot serve it.
            let code = error.code.map { " (\($0))" } ?? ""
            throw AdminError(
                status: .conflict, message: "A request would now be refused with \(error.status.code)\(code): \(error.message)",
                field: "model")
        } catch let error as GatewayError {
            throw AdminError(status: error.status, message: error.message, field: error.param)
        }
        return Response.json(Self.json(decision, endpoint: endpoint, estimate: routeRequest.estimate, sessionID: sessionID))
    }

    private func optionalString(_ body: [String: JSONValue], _ field: String) throws -> String? {
        guard let value = body[field], value != .null else { return nil }
        guard case .string(let text) = value else { throw AdminError.invalid(field, "'\(field)' must be a string.") }
        return text
    }

    // MARK: Health and weights

    private func backendHealth() -> Response {
        let configuration = self.configuration.current
        let now = HealthRegistry.now()
        var rows: [JSONValue] = []
        for name in configuration.modelNames {
            guard let model = configuration.models[name] else { continue }
            for version in model.versions {
                for backend in version.backends {
                    var row = Self.json(health.status(of: backend.label, now: now)).objectValue ?? [:]
                    row["model"] = .string(name)
                    row["version"] = .string(version.name)
                    row["backend"] = .string(backend.label)
                    row["provider"] = .string(backend.provider.id)
                    rows.append(.object(row))
                }
            }
        }
        return Response.json(.object(["backends": .array(rows)]))
    }

    private func weights(of name: String) throws -> Response {
        let configuration = self.configuration.current
        guard let model = configuration.models[name] else { throw AdminError.notFound("Model '\(name)'", field: "name") }
        let now = HealthRegistry.now()
        let versions: [JSONValue] = model.versions.map { version in
            let backends: [JSONValue] = version.backends.map { backend in
                let status = health.status(of: backend.label, now: now)
                let factor = model.strategy == .smartWeightedFailover ? status.recoveryFactor : 1
                return .object([
                    "backend": .string(backend.label), "weight": .number(backend.weight),
                    "effective_weight": .number(status.isHealthy ? backend.weight * factor : 0),
                    "state": .string(status.breakerState), "recovery_factor": .number(status.recoveryFactor),
                ])
            }
            return .object([
                "version": .string(version.name), "weight_percent": .number(Double(version.weightBasisPoints) / 100),
                "is_default": .bool(version.isDefault), "backends": .array(backends),
            ])
        }
        return Response.json(.object(["model": .string(name), "strategy": .string(model.strategy.rawValue), "versions": .array(versions)]))
    }

    // MARK: JSON shapes

    static func json(_ status: BackendStatus) -> JSONValue {
        .object([
            "state": .string(status.breakerState), "available": .bool(status.isHealthy),
            "open_until": status.openUntil.map(JSONValue.number) ?? .null,
            "cooling_down_until": status.coolingDownUntil.map(JSONValue.number) ?? .null,
            "latency_ms": status.latencyMilliseconds.map(JSONValue.number) ?? .null,
            "success_rate": status.successRate.map(JSONValue.number) ?? .null,
            "recovery_factor": .number(status.recoveryFactor), "confidence": .number(status.confidence),
            "requests": .number(Double(status.requests)), "failures": .number(Double(status.failures)),
            "times_opened": .number(Double(status.timesOpened)),
        ])
    }

    static func json(_ binding: SessionBinding) -> JSONValue {
        .object([
            "session_id": .string(binding.sessionID), "user": .string(binding.userID), "model": .string(binding.model),
            "version": .string(binding.version),
            "backend": .string(binding.backend), "expires_at": .number(binding.expiresAt),
        ])
    }

    static func json(_ decision: RouteDecision, endpoint: Endpoint, estimate: RequestEstimate, sessionID: String?) -> JSONValue {
        let candidates: [JSONValue] = decision.candidates.map { candidate in
            .object([
                "backend": .string(candidate.backend.label), "provider": .string(candidate.backend.provider.id),
                "upstream_model": .string(candidate.backend.upstreamModel), "weight": .number(candidate.backend.weight),
                "priority": .number(Double(candidate.backend.priority)), "tags": .array(candidate.backend.tags.map(JSONValue.string)),
                "region": candidate.backend.region.map(JSONValue.string) ?? .null, "eligible": .bool(candidate.eligible),
                "reason": .string(candidate.reason), "score": candidate.score.map(JSONValue.number) ?? .null,
                "estimated_cost_usd": .number(estimate.costUSD(on: candidate.backend.provider.spec)),
                "estimated_latency_ms": candidate.status.latencyMilliseconds.map(JSONValue.number) ?? .null,
                "health": json(candidate.status), "delivery": Delivery(of: endpoint, to: candidate.backend).json,
            ])
        }
        var session: JSONValue = .null
        if let sessionID {
            let use: String
            switch decision.session {
            case .none: use = "new"
            case .kept: use = "kept"
            case .moved(let from): use = "moved from \(from)"
            }
            session = .object(["id": .string(sessionID), "use": .string(use)])
        }
        return .object([
            "model": .string(decision.model.name), "version": .string(decision.version.name),
            "backend": .string(decision.backends[0].label), "strategy": .string(decision.strategy.rawValue),
            "endpoint": .string(endpoint.rawValue), "delivery": Delivery(of: endpoint, to: decision.backends[0]).json,
            "reason": .string(decision.reason), "release_strategy": .string(decision.releaseStrategy.rawValue),
            "estimated_cost_usd": .number(estimate.costUSD(on: decision.backends[0].provider.spec)),
            "estimated_latency_ms": decision.candidates.first { $0.backend.label == decision.backends[0].label }?.status.latencyMilliseconds
                .map(JSONValue.number) ?? .null,
            "bucket": decision.bucket.map { .number(Double($0)) } ?? .null, "hash_seed": .string(decision.model.hashSeed),
            "sticky": .string(decision.model.sticky.rawValue),
            "order": .array(decision.backends.map { .string($0.label) }),
            "fell_back_from": decision.fellBackFrom.map(JSONValue.string) ?? .null, "session": session,
            "candidates": .array(candidates),
            "experiment": decision.experiment.map { assignment in
                .object([
                    "id": .string(assignment.experimentID), "variant": .string(assignment.variantID),
                    "bucket": .number(Double(assignment.bucket)), "sticky": .bool(assignment.sticky),
                ])
            } ?? .null,
        ])
    }
}
