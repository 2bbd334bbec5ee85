import Foundation

/// Picks version and backends for a request from the effective configuration and a health view.
/// Pure: no clock (time is passed in), no I/O.
///
/// Serving a request needs only the decision; the text saying why (reasons, per-candidate verdicts,
/// scores, timestamps) is built only with `explain`, for the admin dry run. Both ways make the same
/// decision from the same inputs and draw the same random numbers.
package struct RequestRouter: Sendable {
    package init() {}

    /// - Parameters:
    ///   - turn: the model's next round-robin turn among backends.
    ///   - versionTurn: the model's next round-robin turn among versions (`release_strategy = "round_robin"`).
    ///   - explain: fill `reason` and `candidates`; without it both stay empty and no text is built.
    @specialized(where R == SplitMix64)
    package func route<R: RandomNumberGenerator>(
        _ request: RouteRequest, in configuration: EffectiveConfiguration, health: (String) -> BackendStatus, turn: Int = 0,
        versionTurn: Int = 0, explain: Bool = false, using random: inout R
    ) throws(RoutingFailure) -> RouteDecision {
        guard let model = configuration.models[request.model] else { throw .unknownModel(request.model) }
        guard request.user.mayUse(model: request.model) else { throw .modelNotAllowed(request.model) }
        guard let experiment = model.experiment else {
            let choice = VersionChoice.choose(for: request, model: model, health: health, turn: versionTurn, using: &random)
            return try route(request, model: model, choice: choice, health: health, turn: turn, explain: explain, using: &random)
        }
        let assignment = experiment.assign(key: Self.stickyKey(for: request, mode: .user), using: &random)
        var decision: RouteDecision
        switch assignment.target {
        case .version(let name):
            // A version removed since the experiment started falls back to the default, and counts for the variant.
            let index = model.versions.firstIndex { $0.name == name } ?? model.defaultVersionIndex
            let choice = VersionChoice(
                index: index, bucket: assignment.bucket, releaseStrategy: model.releaseStrategy, basis: .experiment(assignment))
            decision = try route(request, model: model, choice: choice, health: health, turn: turn, explain: explain, using: &random)
        case .model(let name):
            // The variant's model serves by its own release strategy; the user asked for the experiment's model.
            guard let other = configuration.models[name] else { throw .unknownModel(name) }
            var inner = request
            inner.model = name
            let choice = VersionChoice.choose(for: inner, model: other, health: health, turn: versionTurn, using: &random)
            decision = try route(inner, model: other, choice: choice, health: health, turn: turn, explain: explain, using: &random)
            if explain { decision.reason = VersionChoice.reason(for: assignment) + "; " + decision.reason }
        }
        decision.experiment = assignment
        return decision
    }

    private func route<R: RandomNumberGenerator>(
        _ request: RouteRequest, model: EffectiveConfiguration.Model, choice: VersionChoice, health: (String) -> BackendStatus, turn: Int,
        explain: Bool, using random: inout R
    ) throws(RoutingFailure) -> RouteDecision {
        let strategy = request.strategyOverride ?? model.strategy
        var versionIndex = choice.index

        var fellBackFrom: String?
        var unhealthyVersion: String?
        var pool = candidates(of: model.versions[versionIndex], for: request, strategy: strategy, health: health, explain: explain)
        if pool.usable.isEmpty && versionIndex != model.defaultVersionIndex {
            fellBackFrom = model.versions[versionIndex].name
            if pool.filteredByRequest == 0 { unhealthyVersion = fellBackFrom }
            versionIndex = model.defaultVersionIndex
            pool = candidates(of: model.versions[versionIndex], for: request, strategy: strategy, health: health, explain: explain)
        }
        let version = model.versions[versionIndex]
        guard !pool.usable.isEmpty else {
            throw .noBackend(model: model.name, version: version.name, reason: Self.whyNone(of: version, for: request, unhealthy: pool.unhealthy))
        }

        let result = strategy.order(pool.usable, estimate: request.estimate, turn: turn, smartAI: model.smartAI, explain: explain, using: &random)
        var ordered = result.ordered
        if let region = request.preferredRegion ?? request.user.region {
            Self.moveToFront(&ordered) { $0.backend.region == region }
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
        var reason = ""
        var explanations: [CandidateExplanation] = []
        if explain {
            explanations = pool.explanations
            for index in explanations.indices {
                explanations[index].score = result.scores[index]
            }
            reason = choice.reason(in: model)
            if let fellBackFrom { reason += "; \(fellBackFrom) had no usable backend, so the default \(version.name) serves" }
            reason += "; \(strategy.rawValue) put \(ordered[0].label) first"
            if let score = result.scores[ordered[0].index] { reason += " (score \(Self.format(score)))" }
            if sessionUse == .kept { reason += "; kept for the conversation" }
        }
        var decision = RouteDecision(
            model: model, version: version, backends: ordered.map(\.backend), strategy: strategy, bucket: choice.bucket,
            releaseStrategy: choice.releaseStrategy, reason: reason, candidates: explanations,
            fellBackFrom: fellBackFrom, unhealthyVersion: unhealthyVersion, session: sessionUse, usesUnhealthyBackends: pool.unhealthyOnly)
        if let shadow = model.shadow, shadow.version.name != version.name {
            decision.shadow = shadowRoute(
                shadow, for: request, model: model, choice: choice, strategy: strategy, health: health, turn: turn, using: &random)
            if explain, let route = decision.shadow {
                decision.reason +=
                    route.backends.first.map { "; a copy goes to the shadow \(route.version.name) (\($0.label))" }
                    ?? "; no backend of the shadow \(route.version.name) is healthy, so no copy goes"
            }
        }
        return decision
    }

    /// The shadow's backends when the request's bucket is in the shadow's share: the split's sticky
    /// bucket when one chose, else the same hash of the sticky key, else a random draw. No backends
    /// when none of the shadow version is healthy: a copy would only measure open circuits.
    private func shadowRoute<R: RandomNumberGenerator>(
        _ shadow: EffectiveConfiguration.Shadow, for request: RouteRequest, model: EffectiveConfiguration.Model, choice: VersionChoice,
        strategy: BalancingStrategy, health: (String) -> BackendStatus, turn: Int, using random: inout R
    ) -> ShadowRoute? {
        let bucket =
            choice.bucket ?? Self.stickyKey(for: request, mode: model.sticky).map { StickyHash.bucket(seed: model.hashSeed, key: $0) }
            ?? Int.random(in: 0..<ReleaseSplit.bucketCount, using: &random)
        guard shadow.spec.covers(bucket: bucket) else { return nil }
        let pool = candidates(of: shadow.version, for: request, strategy: strategy, health: health, explain: false)
        guard !pool.usable.isEmpty, !pool.unhealthyOnly else { return ShadowRoute(version: shadow.version, backends: [], spec: shadow.spec) }
        let ordered = strategy.order(pool.usable, estimate: request.estimate, turn: turn, smartAI: model.smartAI, explain: false, using: &random)
        return ShadowRoute(version: shadow.version, backends: ordered.ordered.map(\.backend), spec: shadow.spec)
    }

    /// Stable partition: the candidates matching `preferred` first, each group in its order. Leaves the
    /// array alone (no new one) when all or none match, as they mostly do.
    private static func moveToFront(_ candidates: inout [Candidate], where preferred: (Candidate) -> Bool) {
        guard let firstOther = candidates.firstIndex(where: { !preferred($0) }),
            candidates[(firstOther + 1)...].contains(where: preferred)
        else { return }
        var reordered: [Candidate] = []
        reordered.reserveCapacity(candidates.count)
        for candidate in candidates where preferred(candidate) { reordered.append(candidate) }
        for candidate in candidates where !preferred(candidate) { reordered.append(candidate) }
        candidates = reordered
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
        /// Backends whose health keeps them out (not the request): what the 503 message names when none can serve.
        var unhealthy: [Candidate]
        /// Only when explaining: one per backend of the version, in its order.
        var explanations: [CandidateExplanation]
        var unhealthyOnly = false
        /// Backends excluded by the request itself (providers, tags), not by their health.
        var filteredByRequest = 0
    }

    /// Why a backend may not serve this request; `nil` when it may.
    private enum Verdict {
        case providerExcluded
        case tagsNotShared
        case circuitOpen
        case coolingDown

        var filtersRequest: Bool { self == .providerExcluded || self == .tagsNotShared }

        /// What an explanation or the 503 message says.
        func text(for backend: EffectiveConfiguration.Backend, status: BackendStatus) -> String {
            switch self {
            case .providerExcluded:
                return "provider \(backend.provider.id) excluded by the request"
            case .tagsNotShared:
                return "backend tags \(backend.tags.sorted()) not among the user's tags"
            case .circuitOpen:
                return "circuit \(status.breakerState)" + (status.openUntil.map { " until \(RequestRouter.timestamp($0))" } ?? "")
            case .coolingDown:
                return "cooling down after 429 until \(RequestRouter.timestamp(status.coolingDownUntil ?? 0))"
            }
        }
    }

    /// The request's own filters: excluded providers, then tags the user does not share.
    private static func filter(_ backend: EffectiveConfiguration.Backend, for request: RouteRequest) -> Verdict? {
        if request.excludedProviders.contains(backend.provider.id) { return .providerExcluded }
        // Tagged backends serve only users sharing one of their tags.
        if !backend.tags.isEmpty && !backend.tags.contains(where: { request.user.tags.contains($0) }) { return .tagsNotShared }
        return nil
    }

    /// The request's filters, then the backend's health.
    private static func verdict(on backend: EffectiveConfiguration.Backend, status: BackendStatus, for request: RouteRequest) -> Verdict? {
        if let filtered = filter(backend, for: request) { return filtered }
        if !status.breakerAllows { return .circuitOpen }
        if status.coolingDownUntil != nil { return .coolingDown }
        return nil
    }

    /// Sorts a version's backends into those that may serve this request and those that may not, with
    /// reasons when explaining.
    private func candidates(
        of version: EffectiveConfiguration.Version, for request: RouteRequest, strategy: BalancingStrategy,
        health: (String) -> BackendStatus, explain: Bool
    ) -> Pool {
        var healthy: [Candidate] = []
        var unhealthy: [Candidate] = []
        var explanations: [CandidateExplanation] = []
        if explain { explanations.reserveCapacity(version.backends.count) }
        var filteredByRequest = 0
        for (index, backend) in version.backends.enumerated() {
            let status = health(backend.label)
            let verdict = Self.verdict(on: backend, status: status, for: request)
            switch verdict {
            case nil: healthy.append(Candidate(backend: backend, index: index, status: status))
            case let excluded? where excluded.filtersRequest: filteredByRequest += 1
            case _?: unhealthy.append(Candidate(backend: backend, index: index, status: status))
            }
            if explain {
                explanations.append(
                    CandidateExplanation(
                        backend: backend, status: status, eligible: verdict == nil,
                        reason: verdict?.text(for: backend, status: status) ?? "eligible", score: nil))
            }
        }
        if healthy.isEmpty && !unhealthy.isEmpty && strategy.usesUnhealthyWhenNoneHealthy {
            for candidate in unhealthy where explain {
                explanations[candidate.index].eligible = true
                explanations[candidate.index].reason += "; no backend is healthy, so chosen by weight anyway"
            }
            return Pool(
                usable: unhealthy, unhealthy: unhealthy, explanations: explanations, unhealthyOnly: true, filteredByRequest: filteredByRequest)
        }
        return Pool(usable: healthy, unhealthy: unhealthy, explanations: explanations, filteredByRequest: filteredByRequest)
    }

    /// The 503 message when no backend of `version` can serve: each backend with what keeps it out.
    /// Built only on that failure path; `unhealthy` carries the health each was judged by.
    private static func whyNone(of version: EffectiveConfiguration.Version, for request: RouteRequest, unhealthy: [Candidate]) -> String {
        guard !version.backends.isEmpty else { return "version \(version.name) has no enabled backend" }
        let reasons = version.backends.enumerated().map { index, backend in
            let text: String
            if let candidate = unhealthy.first(where: { $0.index == index }),
                let verdict = verdict(on: backend, status: candidate.status, for: request)
            {
                text = verdict.text(for: backend, status: candidate.status)
            } else {
                text = filter(backend, for: request)?.text(for: backend, status: .unknown) ?? "eligible"
            }
            return "\(backend.label): \(text)"
        }
        return "no backend of version \(version.name) can serve: " + reasons.joined(separator: "; ")
    }

    static func format(_ value: Double) -> String {
        value.rounded() == value && abs(value) < 1e12 ? String(Int(value)) : String(format: "%.4g", value)
    }

    static func timestamp(_ seconds: Double) -> String {
        Date(timeIntervalSince1970: seconds).formatted(.iso8601)
    }
}
