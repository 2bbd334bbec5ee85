import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import SwitchyardCore

/// The OpenAI-compatible client API: chat completions, embeddings and the model list.
package struct ClientAPIController: Sendable {
    /// Client headers passed on to upstreams as they came; all others stay at the gateway. (`traceparent`
    /// goes upstream too, as a child of the gateway's span.)
    package static let forwardedHeaderNames = ["tracestate", "baggage"]

    /// Headers that name a conversation, in order of preference.
    package static let sessionHeaderNames = ["x-session-id", "x-conversation-id"]

    let configuration: ConfigurationHolder
    let relay: Relay
    let health: HealthRegistry
    let sessions: SessionTable
    let rateLimits: RateLimits
    let budgets: Budgets
    let maxBodyBytes: Int

    package init(
        configuration: ConfigurationHolder, relay: Relay, health: HealthRegistry, sessions: SessionTable, rateLimits: RateLimits,
        budgets: Budgets, maxBodyBytes: Int
    ) {
        self.configuration = configuration
        self.relay = relay
        self.health = health
        self.sessions = sessions
        self.rateLimits = rateLimits
        self.budgets = budgets
        self.maxBodyBytes = maxBodyBytes
    }

    package func addRoutes(to router: Router<GatewayContext>) {
        router.post("/v1/chat/completions") { request, context in
            try await relay(request, context: context, endpoint: .chatCompletions)
        }
        router.post("/v1/embeddings") { request, context in
            try await relay(request, context: context, endpoint: .embeddings)
        }
        router.get("/v1/models") { request, context in
            try listModels(request, context: context)
        }
    }

    private func relay(_ request: Request, context: GatewayContext, endpoint: Endpoint) async throws -> Response {
        let startedAt = ContinuousClock.now
        let configuration = self.configuration.current
        let user = try authenticate(request, in: configuration)
        var body = try await readJSONBody(request)

        guard let modelName = body["model"]?.stringValue, !modelName.isEmpty else {
            throw GatewayError.invalidRequest("you must provide a model parameter", param: "model")
        }
        let stream: Bool
        switch body["stream"] {
        case nil, .null?: stream = false
        case .bool(let value)?: stream = value
        default: throw GatewayError.invalidRequest("'stream' must be a boolean", param: "stream")
        }
        switch endpoint {
        case .chatCompletions:
            guard let messages = body["messages"]?.arrayValue, !messages.isEmpty else {
                throw GatewayError.invalidRequest("'messages' must be a non-empty array", param: "messages")
            }
        case .embeddings:
            guard let input = body["input"], input != .null else {
                throw GatewayError.invalidRequest("'input' is required", param: "input")
            }
            guard !stream else { throw GatewayError.invalidRequest("embeddings cannot be streamed", param: "stream") }
        }

        let sessionID = Self.sessionHeaderNames.lazy.compactMap { HTTPField.Name($0).flatMap { request.headers[$0] } }.first
        let routeRequest = RouteRequest(
            model: modelName, user: user, endUser: body["user"]?.stringValue, sessionID: sessionID,
            session: sessionID.flatMap { sessions.binding(for: $0, user: user.id) },
            preferredRegion: request.headers[.switchyardRegion],
            excludedProviders: Self.excludedProviders(request.headers[.switchyardExcludeProviders]),
            estimate: Self.estimate(body))
        let decision = try route(routeRequest, in: configuration)
        // The budget is only read; the rate limit takes a slot, so it comes last.
        if let overBudget = budgets.check(user) { throw overBudget }
        let admission = rateLimits.admit(user, tokens: routeRequest.estimate.inputTokens + routeRequest.estimate.outputTokens)
        if let admission, !admission.allowed { throw RateLimits.error(for: admission) }
        let limitHeaders = admission.map(RateLimits.headers(for:)) ?? [:]

        let clientWantsUsage = body["stream_options"]?["include_usage"]?.boolValue == true
        Self.apply(decision.version.params, to: &body, endpoint: endpoint)
        if stream {
            var options = body["stream_options"]?.objectValue ?? [:]
            options["include_usage"] = .bool(true)
            body["stream_options"] = .object(options)
        }
        // One system draw (a syscall) seeds the trace and span ids of this request.
        var system = SystemRandomNumberGenerator()
        var random = SplitMix64(seed: system.next())
        let trace =
            request.headers[.traceparent].flatMap(TraceContext.init(traceparent:)).map { $0.child(using: &random) }
            ?? TraceContext.start(using: &random)
        var forwarded = Self.forwardedHeaderNames.compactMap { name in
            HTTPField.Name(name).flatMap { request.headers[$0] }.map { (name, $0) }
        }
        forwarded.append(("traceparent", trace.child(using: &random).traceparent))
        let upstreamRequest = UpstreamRequest(
            endpoint: endpoint, body: body, stream: stream, requestID: context.requestID, forwardedHeaders: forwarded)
        // A variant naming another model is recorded under the model that served it.
        var draft = OutcomeDraft(
            requestID: context.requestID, userID: user.id, model: decision.model.name, endpoint: endpoint, stream: stream, startedAt: startedAt)
        draft.experiment = decision.experiment
        draft.traceID = trace.traceID
        draft.fellBackFrom = decision.unhealthyVersion
        draft.rateLimitTicket = admission?.ticket
        draft.estimatedInputTokens = routeRequest.estimate.inputTokens
        let session = sessionID.map {
            SessionContext(id: $0, user: user.id, model: decision.model.name, table: sessions, ttl: configuration.settings.sessionTTLSeconds)
        }
        do {
            var response = try await relay.forward(
                upstreamRequest, decision: decision, settings: configuration.settings, outcome: draft,
                clientWantsUsage: clientWantsUsage, session: session, logger: context.logger)
            response.headers[.traceparent] = trace.traceparent
            response.headers.append(contentsOf: limitHeaders)
            return response
        } catch let error as GatewayError {
            var extra: HTTPFields = [.traceparent: trace.traceparent]
            extra.append(contentsOf: limitHeaders)
            throw error.adding(extra)
        }
    }

    /// Routes with the live health view; the same call answers `POST /api/routing/decide`, which
    /// passes `dryRun` so that explaining does not move round-robin turns. Only the dry run builds the
    /// explanation (reason and candidates): serving a request needs the decision alone.
    func route(_ request: RouteRequest, in configuration: EffectiveConfiguration, dryRun: Bool = false) throws -> RouteDecision {
        var system = SystemRandomNumberGenerator()
        var random = SplitMix64(seed: system.next())
        let now = HealthRegistry.now()
        let model = configuration.models[request.model]
        let strategy = request.strategyOverride ?? model?.strategy
        let turn = strategy == .roundRobin ? health.nextTurn(for: request.model, advance: !dryRun) : 0
        let rotatesVersions = model.map { $0.releaseStrategy == .roundRobin && !$0.hasActiveRollout } ?? false
        let versionTurn = rotatesVersions ? health.nextTurn(for: "versions\u{0}" + request.model, advance: !dryRun) : 0
        do {
            return try RequestRouter().route(
                request, in: configuration, health: { health.status(of: $0, now: now) }, turn: turn, versionTurn: versionTurn, explain: dryRun,
                using: &random)
        } catch {
            throw Self.gatewayError(for: error)
        }
    }

    static func excludedProviders(_ header: String?) -> Set<String> {
        Set((header ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty })
    }

    /// Prompt tokens from the text size (about four characters a token); output from `max_tokens`, else 256.
    static func estimate(_ body: [String: JSONValue]) -> RequestEstimate {
        var characters = 0
        for message in body["messages"]?.arrayValue ?? [] {
            switch message["content"] {
            case .string(let text)?: characters += text.utf8.count
            case .array(let parts)?: characters += parts.reduce(0) { $0 + ($1["text"]?.stringValue?.utf8.count ?? 0) }
            default: break
            }
        }
        if case .string(let input)? = body["input"] { characters += input.utf8.count }
        let output = (body["max_completion_tokens"] ?? body["max_tokens"])?.intValue(clampedTo: 0...10_000_000) ?? 256
        return RequestEstimate(inputTokens: max(1, characters / 4), outputTokens: output)
    }

    private func listModels(_ request: Request, context: GatewayContext) throws -> Response {
        let configuration = self.configuration.current
        let user = try authenticate(request, in: configuration)
        struct Model: Encodable {
            var id: String
            var object = "model"
            var created = 0
            var owned_by = "switchyard"
        }
        struct List: Encodable {
            var object = "list"
            var data: [Model]
        }
        let list = List(data: configuration.modelNames.filter(user.mayUse(model:)).map { Model(id: $0) })
        let body = ByteBuffer(bytes: try JSONEncoder().encode(list))
        return Response(
            status: .ok, headers: [.contentType: "application/json", .contentLength: String(body.readableBytes)],
            body: .init(byteBuffer: body))
    }

    /// The enabled user whose token came as `Authorization: Bearer …` or `x-api-key`.
    private func authenticate(_ request: Request, in configuration: EffectiveConfiguration) throws -> UserSpec {
        var token: Substring?
        if let authorization = request.headers[.authorization] {
            let parts = authorization.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
            if parts.count == 2, parts[0].lowercased() == "bearer" {
                token = parts[1]
            }
        }
        if token == nil, let apiKey = request.headers[.apiKey] {
            token = Substring(apiKey)
        }
        guard let token, let user = configuration.user(forToken: String(token.trimmingCharacters(in: .whitespaces))) else {
            throw GatewayError.invalidAPIKey()
        }
        return user
    }

    private func readJSONBody(_ request: Request) async throws -> [String: JSONValue] {
        if let length = request.headers[.contentLength].flatMap(Int.init), length > maxBodyBytes {
            throw GatewayError.bodyTooLarge(limit: maxBodyBytes)
        }
        var request = request
        let buffer: ByteBuffer
        do {
            buffer = try await request.collectBody(upTo: maxBodyBytes)
        } catch is NIOTooManyBytesError {
            throw GatewayError.bodyTooLarge(limit: maxBodyBytes)
        }
        let value: JSONValue
        do {
            value = try JSONValue.parse(buffer.readableBytesView)
        } catch {
            throw GatewayError.invalidRequest("We could not parse the JSON body of your request (\(error)).")
        }
        guard case .object(let object) = value else {
            throw GatewayError.invalidRequest("The request body must be a JSON object.")
        }
        return object
    }

    /// A version's `params` replace the client's fields; `system_prompt` sets the first system message.
    static func apply(_ params: [String: JSONValue], to body: inout [String: JSONValue], endpoint: Endpoint) {
        for (key, value) in params {
            if key == "system_prompt" {
                guard endpoint == .chatCompletions, case .string(let prompt) = value else { continue }
                var messages = body["messages"]?.arrayValue ?? []
                let system = JSONValue.object(["role": .string("system"), "content": .string(prompt)])
                if let index = messages.firstIndex(where: { $0["role"]?.stringValue == "system" }) {
                    messages[index] = system
                } else {
                    messages.insert(system, at: 0)
                }
                body["messages"] = .array(messages)
            } else {
                body[key] = value
            }
        }
    }

    static func gatewayError(for failure: RoutingFailure) -> GatewayError {
        switch failure {
        case .unknownModel(let model): return .modelNotFound(model)
        case .modelNotAllowed(let model): return .modelNotAllowed(model)
        case .noBackend(_, _, let reason):
            return GatewayError(status: .serviceUnavailable, message: reason, type: "upstream_error", code: "no_healthy_backend")
        }
    }
}
