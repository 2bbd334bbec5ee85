/// An A/B experiment on one model: variants (versions of the model, or other models) share its
/// traffic by weight while it runs, and their results are compared with the control's.
package struct Experiment: Sendable, Hashable, Codable {
    package enum Status: String, Sendable, Hashable, Codable, CaseIterable {
        case draft, running, paused, completed
    }

    package enum Strategy: String, Sendable, Hashable, Codable, CaseIterable {
        /// The user's sticky bucket under the experiment's hash seed: the same user meets the same variant everywhere.
        case consistentHash = "consistent_hash"
        /// A fresh draw for every request.
        case weightedRandom = "weighted_random"
    }

    package enum Target: Sendable, Hashable, Codable {
        case version(String)
        case model(String)
    }

    package struct Variant: Sendable, Hashable, Codable {
        package var id: String
        package var name: String
        package var target: Target
        /// Relative: variants' weights are normalized to their sum.
        package var weight: Double
        package var description: String

        package init(id: String, name: String, target: Target, weight: Double, description: String = "") {
            self.id = id
            self.name = name
            self.target = target
            self.weight = weight
            self.description = description
        }
    }

    package static let defaultMinSamples = 100

    package var id: String
    package var name: String
    package var description: String
    package var model: String
    package var strategy: Strategy
    /// `nil`: the experiment's id.
    package var hashSeed: String?
    /// Seconds since 1970: a draft starts by itself at `startTime`, a running experiment completes at `endTime`.
    package var startTime: Double?
    package var endTime: Double?
    package var minSamples: Int
    package var variants: [Variant]
    package var control: String
    package var createdBy: String
    package var status: Status = .draft
    package var createdAt: Double
    package var updatedAt: Double
    package var startedAt: Double?
    package var completedAt: Double?

    package init(
        id: String, name: String, description: String = "", model: String, strategy: Strategy = .consistentHash, hashSeed: String? = nil,
        startTime: Double? = nil, endTime: Double? = nil, minSamples: Int = Experiment.defaultMinSamples, variants: [Variant],
        control: String, createdBy: String = "", now: Double
    ) {
        self.id = id
        self.name = name
        self.description = description
        self.model = model
        self.strategy = strategy
        self.hashSeed = hashSeed
        self.startTime = startTime
        self.endTime = endTime
        self.minSamples = minSamples
        self.variants = variants
        self.control = control
        self.createdBy = createdBy
        self.createdAt = now
        self.updatedAt = now
    }

    package var effectiveHashSeed: String { hashSeed ?? id }

    /// Each variant's share of traffic, 0…1, in variant order.
    package var shares: [Double] {
        let total = variants.reduce(0) { $0 + $1.weight }
        return variants.map { total > 0 ? $0.weight / total : 0 }
    }

    // MARK: Lifecycle

    package enum Transition: String, Sendable, CaseIterable {
        case start, pause, complete
    }

    /// Applies a transition, or says why the current state does not allow it.
    package mutating func apply(_ transition: Transition, now: Double) throws(ReleaseError) {
        switch (transition, status) {
        case (.start, .draft), (.start, .paused):
            if let endTime, now >= endTime {
                throw .conflict("end_time", "Experiment \(id) ended at its end_time; it cannot start again.")
            }
            status = .running
            if startedAt == nil { startedAt = now }
        case (.pause, .running):
            status = .paused
        case (.complete, .running), (.complete, .paused):
            status = .completed
            completedAt = now
        default:
            throw .conflict("status", "Experiment \(id) is \(status.rawValue); it cannot \(transition.rawValue).")
        }
        updatedAt = now
    }

    /// The transition its schedule asks for at `now`, if any: a draft's `start_time` or a running experiment's `end_time`.
    package func scheduledTransition(now: Double) -> Transition? {
        if status == .running, let endTime, now >= endTime { return .complete }
        if status == .draft, let startTime, now >= startTime, endTime.map({ now < $0 }) ?? true { return .start }
        return nil
    }
}

/// A running experiment as routing reads it.
package struct ActiveExperiment: Sendable {
    package var id: String
    package var strategy: Experiment.Strategy
    package var hashSeed: String
    package var variants: [Experiment.Variant]
    /// Exclusive upper bucket (of 10 000) of each variant's cumulative range, in variant order.
    package var upperBuckets: [Int]

    package init(_ experiment: Experiment) {
        id = experiment.id
        strategy = experiment.strategy
        hashSeed = experiment.effectiveHashSeed
        variants = experiment.variants
        var cumulative = 0.0
        upperBuckets = experiment.shares.map { share in
            cumulative += share
            return Int((cumulative * Double(ReleaseSplit.bucketCount)).rounded())
        }
        if !upperBuckets.isEmpty { upperBuckets[upperBuckets.count - 1] = ReleaseSplit.bucketCount }
    }

    /// The variant owning `bucket`.
    package func variantIndex(forBucket bucket: Int) -> Int {
        upperBuckets.firstIndex { bucket < $0 } ?? variants.count - 1
    }

    /// Assigns a variant: by the sticky key's bucket under `consistent_hash` (a random bucket when
    /// there is no key), by a fresh draw under `weighted_random`.
    package func assign<R: RandomNumberGenerator>(key: String?, using random: inout R) -> ExperimentAssignment {
        let bucket: Int
        let sticky: Bool
        if strategy == .consistentHash, let key {
            bucket = StickyHash.bucket(seed: hashSeed, key: key)
            sticky = true
        } else {
            bucket = Int.random(in: 0..<ReleaseSplit.bucketCount, using: &random)
            sticky = false
        }
        let variant = variants[variantIndex(forBucket: bucket)]
        return ExperimentAssignment(experimentID: id, variantID: variant.id, target: variant.target, bucket: bucket, sticky: sticky)
    }
}

/// Which variant of which experiment a request met.
package struct ExperimentAssignment: Sendable, Hashable {
    package var experimentID: String
    package var variantID: String
    package var target: Experiment.Target
    package var bucket: Int
    /// The bucket came from the user's key (not a random draw).
    package var sticky: Bool
}
