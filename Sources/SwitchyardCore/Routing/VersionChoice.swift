/// Which version serves a request and why: a conversation's binding, else the model's release strategy.
package struct VersionChoice: Sendable {
    package var index: Int
    /// The sticky bucket that chose, when one did.
    package var bucket: Int?
    /// The release strategy that decided (`weight` while a rollout runs, whatever the model's setting).
    package var releaseStrategy: ReleaseStrategy
    package var reason: String

    /// Chooses a version. Pure: health, the round-robin turn and the random source are passed in.
    package static func choose<R: RandomNumberGenerator>(
        for request: RouteRequest, model: EffectiveConfiguration.Model, health: (String) -> BackendStatus, turn: Int, using random: inout R
    ) -> VersionChoice {
        // A conversation stays on its version while that version has a share: a rollback or an abort moves it too.
        if let session = request.session, session.model == model.name,
            let bound = model.versions.firstIndex(where: { $0.name == session.version && $0.weightBasisPoints > 0 })
        {
            return VersionChoice(
                index: bound, bucket: nil, releaseStrategy: model.releaseStrategy,
                reason: "conversation \(session.sessionID) is bound to \(session.version)")
        }
        let strategy = model.hasActiveRollout ? .weight : model.releaseStrategy
        let stickyKey = RequestRouter.stickyKey(for: request, mode: model.sticky)
        let bucket =
            stickyKey.map { StickyHash.bucket(seed: model.hashSeed, key: $0) } ?? Int.random(in: 0..<ReleaseSplit.bucketCount, using: &random)
        let how = stickyKey == nil ? "random bucket \(bucket)" : "sticky bucket \(bucket) (by \(model.sticky.rawValue))"
        let serving = model.versions.indices.filter { model.versions[$0].weightBasisPoints > 0 }
        let rolloutNote = model.hasActiveRollout && model.releaseStrategy != .weight ? " (a rollout is running, so the split decides)" : ""

        switch strategy {
        case .weight:
            let index = model.split.versionIndex(forBucket: bucket) ?? model.defaultVersionIndex
            return VersionChoice(
                index: index, bucket: stickyKey == nil ? nil : bucket, releaseStrategy: .weight,
                reason: "split: \(how) → \(model.versions[index].name)\(rolloutNote)")
        case .roundRobin:
            guard !serving.isEmpty else {
                return VersionChoice(
                    index: model.defaultVersionIndex, bucket: nil, releaseStrategy: .roundRobin,
                    reason: "round robin: no version has a share; default")
            }
            let index = serving[((turn % serving.count) + serving.count) % serving.count]
            return VersionChoice(
                index: index, bucket: nil, releaseStrategy: .roundRobin,
                reason: "round robin over \(serving.count) versions: turn \(turn) → \(model.versions[index].name)")
        case .health:
            let scores = serving.map { index in
                (
                    index,
                    model.versions[index].backends.map { backend -> Double in
                        let status = health(backend.label)
                        return status.isHealthy ? (status.successRate ?? 1) : 0
                    }.max() ?? 0
                )
            }
            guard let best = scores.map(\.1).max(), best > 0 else {
                return VersionChoice(
                    index: model.defaultVersionIndex, bucket: nil, releaseStrategy: .health,
                    reason: "health: no version has a healthy backend; default \(model.defaultVersion.name)")
            }
            // Versions within five points of the best count as equally healthy; the split decides among them.
            let leaders = scores.filter { $0.1 > 0 && $0.1 >= best - 0.05 }.map(\.0)
            let total = leaders.reduce(0) { $0 + model.versions[$1].weightBasisPoints }
            var point = bucket * total / ReleaseSplit.bucketCount
            var chosen = leaders[0]
            for index in leaders {
                point -= model.versions[index].weightBasisPoints
                if point < 0 {
                    chosen = index
                    break
                }
            }
            let skipped = scores.filter { !leaders.contains($0.0) }.map { "\(model.versions[$0.0].name) \(Int(($0.1 * 100).rounded())) %" }
            return VersionChoice(
                index: chosen, bucket: stickyKey == nil ? nil : bucket, releaseStrategy: .health,
                reason: "health: best success rate \(Int((best * 100).rounded())) % among "
                    + leaders.map { model.versions[$0].name }.joined(separator: ", ")
                    + (skipped.isEmpty ? "" : " (less healthy: \(skipped.joined(separator: ", ")))")
                    + "; split \(how) → \(model.versions[chosen].name)")
        }
    }
}
