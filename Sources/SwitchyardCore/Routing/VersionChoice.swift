/// Which version serves a request and why: a conversation's binding, else the model's release strategy.
package struct VersionChoice: Sendable {
    /// What decided, with the numbers needed to say so; rendered as text only when a decision is explained.
    package enum Basis: Sendable {
        /// The request's conversation is bound to the chosen version.
        case session(id: String)
        /// The split's range holding `bucket` (sticky by the model's `sticky` key, else drawn at random).
        case split(bucket: Int, sticky: Bool)
        /// `release_strategy = "round_robin"` with no version holding a share: the default serves.
        case roundRobinWithoutShares
        /// `release_strategy = "round_robin"`: `turn` over the versions holding a share.
        case roundRobin(turn: Int, versions: Int)
        /// `release_strategy = "health"` with no version having a healthy backend: the default serves.
        case healthWithoutHealthyVersions
        /// `release_strategy = "health"`: the split decided among the versions within five points of the best.
        case health(scores: [VersionHealth], best: Double, bucket: Int, sticky: Bool)
        /// A running experiment's variant named this version.
        case experiment(ExperimentAssignment)
    }

    /// A version holding a share and the best success rate among its healthy backends (0 when none is healthy).
    package struct VersionHealth: Sendable {
        package var index: Int
        package var successRate: Double
    }

    package var index: Int
    /// The sticky bucket that chose, when one did.
    package var bucket: Int?
    /// The release strategy that decided (`weight` while a rollout runs, whatever the model's setting).
    package var releaseStrategy: ReleaseStrategy
    package var basis: Basis

    package init(index: Int, bucket: Int?, releaseStrategy: ReleaseStrategy, basis: Basis) {
        self.index = index
        self.bucket = bucket
        self.releaseStrategy = releaseStrategy
        self.basis = basis
    }

    /// Chooses a version. Pure: health, the round-robin turn and the random source are passed in.
    package static func choose<R: RandomNumberGenerator>(
        for request: RouteRequest, model: EffectiveConfiguration.Model, health: (String) -> BackendStatus, turn: Int, using random: inout R
    ) -> VersionChoice {
        // A conversation stays on its version while that version has a share: a rollback or an abort moves it too.
        if let session = request.session, session.model == model.name,
            let bound = model.versions.firstIndex(where: { $0.name == session.version && $0.weightBasisPoints > 0 })
        {
            return VersionChoice(index: bound, bucket: nil, releaseStrategy: model.releaseStrategy, basis: .session(id: session.sessionID))
        }
        let strategy = model.hasActiveRollout ? .weight : model.releaseStrategy
        let stickyKey = RequestRouter.stickyKey(for: request, mode: model.sticky)
        let bucket =
            stickyKey.map { StickyHash.bucket(seed: model.hashSeed, key: $0) } ?? Int.random(in: 0..<ReleaseSplit.bucketCount, using: &random)
        let sticky = stickyKey != nil

        switch strategy {
        case .weight:
            let index = model.split.versionIndex(forBucket: bucket) ?? model.defaultVersionIndex
            return VersionChoice(index: index, bucket: sticky ? bucket : nil, releaseStrategy: .weight, basis: .split(bucket: bucket, sticky: sticky))
        case .roundRobin:
            let serving = model.versions.count { $0.weightBasisPoints > 0 }
            guard serving > 0 else {
                return VersionChoice(index: model.defaultVersionIndex, bucket: nil, releaseStrategy: .roundRobin, basis: .roundRobinWithoutShares)
            }
            var position = ((turn % serving) + serving) % serving
            var index = 0
            for candidate in model.versions.indices where model.versions[candidate].weightBasisPoints > 0 {
                if position == 0 {
                    index = candidate
                    break
                }
                position -= 1
            }
            return VersionChoice(index: index, bucket: nil, releaseStrategy: .roundRobin, basis: .roundRobin(turn: turn, versions: serving))
        case .health:
            var scores: [VersionHealth] = []
            for index in model.versions.indices where model.versions[index].weightBasisPoints > 0 {
                // The best of its backends, as `max()` would find it, without an array per version.
                var rate: Double?
                for backend in model.versions[index].backends {
                    let status = health(backend.label)
                    let backendRate = status.isHealthy ? (status.successRate ?? 1) : 0
                    if rate.map({ $0 < backendRate }) ?? true { rate = backendRate }
                }
                scores.append(VersionHealth(index: index, successRate: rate ?? 0))
            }
            guard let best = scores.lazy.map(\.successRate).max(), best > 0 else {
                return VersionChoice(
                    index: model.defaultVersionIndex, bucket: nil, releaseStrategy: .health, basis: .healthWithoutHealthyVersions)
            }
            // Versions within five points of the best count as equally healthy; the split decides among them.
            let isLeader = { (score: VersionHealth) in Self.leads(score, best: best) }
            let total = scores.reduce(0) { isLeader($1) ? $0 + model.versions[$1.index].weightBasisPoints : $0 }
            var point = bucket * total / ReleaseSplit.bucketCount
            var chosen: Int?
            for score in scores where isLeader(score) {
                chosen = chosen ?? score.index
                point -= model.versions[score.index].weightBasisPoints
                if point < 0 {
                    chosen = score.index
                    break
                }
            }
            return VersionChoice(
                index: chosen ?? model.defaultVersionIndex, bucket: sticky ? bucket : nil, releaseStrategy: .health,
                basis: .health(scores: scores, best: best, bucket: bucket, sticky: sticky))
        }
    }

    /// Within five points of the best: as healthy as the best, for `release_strategy = "health"`.
    private static func leads(_ score: VersionHealth, best: Double) -> Bool {
        score.successRate > 0 && score.successRate >= best - 0.05
    }

    /// One line saying why this version: what the routing explanation starts with.
    /// - Parameter model: the model the choice was made for.
    package func reason(in model: EffectiveConfiguration.Model) -> String {
        var name: String { model.versions[index].name }
        func how(bucket: Int, sticky: Bool) -> String {
            sticky ? "sticky bucket \(bucket) (by \(model.sticky.rawValue))" : "random bucket \(bucket)"
        }
        switch basis {
        case .session(let id):
            return "conversation \(id) is bound to \(name)"
        case .split(let bucket, let sticky):
            let rolloutNote = model.hasActiveRollout && model.releaseStrategy != .weight ? " (a rollout is running, so the split decides)" : ""
            return "split: \(how(bucket: bucket, sticky: sticky)) → \(name)\(rolloutNote)"
        case .roundRobinWithoutShares:
            return "round robin: no version has a share; default"
        case .roundRobin(let turn, let versions):
            return "round robin over \(versions) versions: turn \(turn) → \(name)"
        case .healthWithoutHealthyVersions:
            return "health: no version has a healthy backend; default \(model.defaultVersion.name)"
        case .health(let scores, let best, let bucket, let sticky):
            let leaders = scores.filter { Self.leads($0, best: best) }.map { model.versions[$0.index].name }
            let skipped = scores.filter { !Self.leads($0, best: best) }.map {
                "\(model.versions[$0.index].name) \(Int(($0.successRate * 100).rounded())) %"
            }
            return "health: best success rate \(Int((best * 100).rounded())) % among " + leaders.joined(separator: ", ")
                + (skipped.isEmpty ? "" : " (less healthy: \(skipped.joined(separator: ", ")))")
                + "; split \(how(bucket: bucket, sticky: sticky)) → \(name)"
        case .experiment(let assignment):
            return Self.reason(for: assignment)
        }
    }

    /// How an experiment assigned the request: the start of the explanation when one runs on the model.
    package static func reason(for assignment: ExperimentAssignment) -> String {
        let target: String
        switch assignment.target {
        case .version(let version): target = version
        case .model(let model): target = "model \(model)"
        }
        let draw = assignment.sticky ? "sticky" : "random"
        return "experiment \(assignment.experimentID): \(draw) bucket \(assignment.bucket) → variant \(assignment.variantID) (\(target))"
    }
}
