import Foundation

/// Why a request cannot be routed, before anything is sent upstream.
package enum RoutingFailure: Error, Sendable, Equatable {
    case unknownModel(String)
    case modelNotAllowed(String)
    /// No backend of the version (nor of the default version) may serve this request now.
    case noBackend(model: String, version: String, reason: String)
}

/// A conversation bound to the version and backend that first served it. Conversations are the
/// user's own: the same id from another user is another conversation.
package struct SessionBinding: Sendable, Hashable, Codable {
    package var userID: String
    package var sessionID: String
    package var model: String
    package var version: String
    /// `provider/upstream-model`.
    package var backend: String
    /// Seconds since 1970.
    package var expiresAt: Double

    package init(userID: String = "", sessionID: String, model: String, version: String, backend: String, expiresAt: Double) {
        self.userID = userID
        self.sessionID = sessionID
        self.model = model
        self.version = version
        self.backend = backend
        self.expiresAt = expiresAt
    }
}

/// What routing needs to know about one request.
package struct RouteRequest: Sendable {
    package var model: String
    package var user: UserSpec
    /// The request's OpenAI `user` field: the sticky key of models with `sticky = "user"`.
    package var endUser: String?
    /// The conversation id from the request's headers.
    package var sessionID: String?
    /// The live binding of the request's conversation, if it has one.
    package var session: SessionBinding?
    package var preferredRegion: String?
    package var excludedProviders: Set<String>
    package var estimate: RequestEstimate
    /// Explain with another strategy than the model's.
    package var strategyOverride: BalancingStrategy?

    package init(
        model: String, user: UserSpec, endUser: String? = nil, sessionID: String? = nil, session: SessionBinding? = nil,
        preferredRegion: String? = nil,
        excludedProviders: Set<String> = [], estimate: RequestEstimate = RequestEstimate(inputTokens: 0, outputTokens: 0),
        strategyOverride: BalancingStrategy? = nil
    ) {
        self.model = model
        self.user = user
        self.endUser = endUser
        self.sessionID = sessionID
        self.session = session
        self.preferredRegion = preferredRegion
        self.excludedProviders = excludedProviders
        self.estimate = estimate
        self.strategyOverride = strategyOverride
    }
}

/// One backend of the chosen version, whether it could serve and why.
package struct CandidateExplanation: Sendable {
    package var backend: EffectiveConfiguration.Backend
    package var status: BackendStatus
    package var eligible: Bool
    package var reason: String
    package var score: Double?
}

/// Where one request goes: the version, the backends to try in order, and why.
package struct RouteDecision: Sendable {
    package enum SessionUse: Sendable, Equatable {
        case none
        /// The bound backend serves again.
        case kept
        /// The bound backend could not serve; the conversation moves to the new choice.
        case moved(from: String)
    }

    package var model: EffectiveConfiguration.Model
    package var version: EffectiveConfiguration.Version
    package var backends: [EffectiveConfiguration.Backend]
    package var strategy: BalancingStrategy
    /// The sticky bucket (0 ..< 10 000) that chose the version; `nil` when drawn at random or bound by a session.
    package var bucket: Int?
    package var releaseStrategy: ReleaseStrategy
    /// One line saying why this version and backend.
    package var reason: String
    package var candidates: [CandidateExplanation]
    /// The version drawn first, when it had no usable backend and the default version serves instead.
    package var fellBackFrom: String?
    /// `fellBackFrom` when its backends were all unhealthy (not filtered out by the request): a failure of that version.
    package var unhealthyVersion: String?
    package var session: SessionUse
    /// No backend was healthy and the strategy picks among the unhealthy ones by weight anyway.
    package var usesUnhealthyBackends = false
    /// The experiment variant the request met, when an experiment runs on the requested model.
    package var experiment: ExperimentAssignment?
}

/// Picks version and backends for a request from the effective configuration and a health view.
/// Pure: no clock (time is passed in), no I/O.
package struct RequestRouter: Sendable {
    package init() {}

    /// - Parameters:
    ///   - turn: the model's next round-robin turn among backends.
    ///   - versionTurn: the model's next round-robin turn among versions (`release_strategy = "round_robin"`).
    package func route<R: RandomNumberGenerator>(
        _ request: RouteRequest, in configuration: EffectiveConfiguration, health: (String) -> BackendStatus, turn: Int = 0,
        versionTurn: Int = 0, using random: inout R
    ) throws(RoutingFailure) -> RouteDecision {
        guard let model = configuration.models[request.model] else { throw .unknownModel(request.model) }
        guard request.user.mayUse(model: request.model) else { throw .modelNotAllowed(request.model) }
        guard let experiment = model.experiment else {
            let choice = VersionChoice.choose(for: request, model: model, health: health, turn: versionTurn, using: &random)
            return try route(request, model: model, choice: choice, health: health, turn: turn, using: &random)
        }
        let assignment = experiment.assign(key: Self.stickyKey(for: request, mode: .user), using: &random)
        let how =
            "experiment \(experiment.id): \(assignment.sticky ? "sticky" : "random") bucket \(assignment.bucket) → variant \(assignment.variantID)"
        var decision: RouteDecision
        switch assignment.target {
        case .version(let name):
            // A version removed since the experiment started falls back to the default, and counts for the variant.
            let index = model.versions.firstIndex { $0.name == name } ?? model.defaultVersionIndex
            let choice = VersionChoice(index: index, bucket: assignment.bucket, releaseStrategy: model.releaseStrategy, reason: "\(how) (\(name))")
            decision = try route(request, model: model, choice: choice, health: health, turn: turn, using: &random)
        case .model(let name):
            // The variant's model serves by its own release strategy; the user asked for the experiment's model.
            guard let other = configuration.models[name] else { throw .unknownModel(name) }
            var inner = request
            inner.model = name
            let choice = VersionChoice.choose(for: inner, model: other, health: health, turn: versionTurn, using: &random)
            decision = try route(inner, model: other, choice: choice, health: health, turn: turn, using: &random)
            decision.reason = "\(how) (model \(name)); " + decision.reason
        }
        decision.experiment = assignment
        return decision
    }

    private func route<R: RandomNumberGenerator>(
        _ request: RouteRequest, model: EffectiveConfiguration.Model, choice: VersionChoice, health: (String) -> BackendStatus, turn: Int,
        using random: inout R
    ) throws(RoutingFailure) -> RouteDecision {
        let strategy = request.strategyOverride ?? model.strategy
        var versionIndex = choice.index

        var fellBackFrom: String?
        var unhealthyVersion: String?
        var pool = candidates(of: model.versions[versionIndex], for: request, strategy: strategy, health: health)
        if pool.usable.isEmpty && versionIndex != model.defaultVersionIndex {
            fellBackFrom = model.versions[versionIndex].name
            if pool.filteredByRequest == 0 { unhealthyVersion = fellBackFrom }
            versionIndex = model.defaultVersionIndex
            pool = candidates(of: model.versions[versionIndex], for: request, strategy: strategy, health: health)
        }
        let version = model.versions[versionIndex]
        guard !pool.usable.isEmpty else {
            throw .noBackend(model: model.name, version: version.name, reason: pool.whyNone)
        }

        let result = strategy.order(pool.usable, estimate: request.estimate, turn: turn, smartAI: model.smartAI, using: &random)
        var ordered = result.ordered
        if let region = request.preferredRegion ?? request.user.region {
            ordered = ordered.filter { $0.backend.region == region } + ordered.filter { $0.backend.region != region }
        }
        var sessionUse = RouteDecision.SessionUse.none
        if let session = request.session, session.model == model.name {
            if session.version == version.name, version.weightBasisPoints > 0, let bound = ordered.firstIndex(where: { $0.label == session.backend })
            {
                ordered.insert(ordered.remove(at: bound), at: 0)
                sessionUse = .kept
            } else {
                sessionUse = .moved(from: session.backend)
            }
        }
        var explanations = pool.explanations
        for index in explanations.indices {
            explanations[index].score = result.scores[index]
        }
        var reason = choice.reason
        if let fellBackFrom { reason += "; \(fellBackFrom) had no usable backend, so the default \(version.name) serves" }
        reason += "; \(strategy.rawValue) put \(ordered[0].label) first"
        if let score = result.scores[ordered[0].index] { reason += " (score \(Self.format(score)))" }
        if sessionUse == .kept { reason += "; kept for the conversation" }
        return RouteDecision(
            model: model, version: version, backends: ordered.map(\.backend), strategy: strategy, bucket: choice.bucket,
            releaseStrategy: choice.releaseStrategy, reason: reason, candidates: explanations,
            fellBackFrom: fellBackFrom, unhealthyVersion: unhealthyVersion, session: sessionUse, usesUnhealthyBackends: pool.unhealthyOnly)
    }

    /// The key that keeps a client on its version: by the model's `sticky` setting.
    static func stickyKey(for request: RouteRequest, mode: StickyMode) -> String? {
        switch mode {
        case .user:
            if let endUser = request.endUser, !endUser.isEmpty { return endUser }
            return request.user.id.isEmpty ? nil : request.user.id
        case .session:
            return request.sessionID
        case .none:
            return nil
        }
    }

    private struct Pool {
        var usable: [Candidate]
        var explanations: [CandidateExplanation]
        var whyNone: String
        var unhealthyOnly = false
        /// Backends excluded by the request itself (providers, tags), not by their health.
        var filteredByRequest = 0
    }

    /// Sorts a version's backends into those that may serve this request and those that may not, with reasons.
    private func candidates(
        of version: EffectiveConfiguration.Version, for request: RouteRequest, strategy: BalancingStrategy,
        health: (String) -> BackendStatus
    ) -> Pool {
        var healthy: [Candidate] = []
        var unhealthy: [Candidate] = []
        var explanations: [CandidateExplanation] = []
        var filteredByRequest = 0
        for (index, backend) in version.backends.enumerated() {
            let status = health(backend.label)
            var reason = "eligible"
            var filtered = false
            if request.excludedProviders.contains(backend.provider.id) {
                reason = "provider \(backend.provider.id) excluded by the request"
                filtered = true
            } else if !backend.tags.isEmpty && Set(backend.tags).isDisjoint(with: request.user.tags) {
                reason = "backend tags \(backend.tags.sorted()) not among the user's tags"
                filtered = true
            } else if !status.breakerAllows {
                reason = "circuit \(status.breakerState)" + (status.openUntil.map { " until \(Self.timestamp($0))" } ?? "")
            } else if let until = status.coolingDownUntil {
                reason = "cooling down after 429 until \(Self.timestamp(until))"
            }
            let candidate = Candidate(backend: backend, index: index, status: status)
            if filtered { filteredByRequest += 1 }
            if !filtered {
                if reason == "eligible" { healthy.append(candidate) } else { unhealthy.append(candidate) }
            }
            explanations.append(CandidateExplanation(backend: backend, status: status, eligible: reason == "eligible", reason: reason, score: nil))
        }
        if healthy.isEmpty && !unhealthy.isEmpty && strategy.usesUnhealthyWhenNoneHealthy {
            for index in explanations.indices where unhealthy.contains(where: { $0.index == index }) {
                explanations[index].eligible = true
                explanations[index].reason += "; no backend is healthy, so chosen by weight anyway"
            }
            return Pool(usable: unhealthy, explanations: explanations, whyNone: "", unhealthyOnly: true, filteredByRequest: filteredByRequest)
        }
        let whyNone =
            version.backends.isEmpty
            ? "version \(version.name) has no enabled backend"
            : "no backend of version \(version.name) can serve: " + explanations.map { "\($0.backend.label): \($0.reason)" }.joined(separator: "; ")
        return Pool(usable: healthy, explanations: explanations, whyNone: whyNone, filteredByRequest: filteredByRequest)
    }

    static func format(_ value: Double) -> String {
        value.rounded() == value && abs(value) < 1e12 ? String(Int(value)) : String(format: "%.4g", value)
    }

    static func timestamp(_ seconds: Double) -> String {
        Date(timeIntervalSince1970: seconds).formatted(.iso8601)
    }
}
