/// Why a release change cannot be made, naming the field at fault.
package struct ReleaseError: Error, Hashable, Sendable {
    /// 404 for things that do not exist, 409 for conflicts with the current state, 422 for invalid values.
    package var status: Int
    package var field: String?
    package var message: String

    package init(status: Int, field: String?, message: String) {
        self.status = status
        self.field = field
        self.message = message
    }

    package static func invalid(_ field: String?, _ message: String) -> ReleaseError {
        ReleaseError(status: 422, field: field, message: message)
    }

    package static func unknownVersion(_ name: String, field: String = "version") -> ReleaseError {
        ReleaseError(status: 404, field: field, message: "No version '\(name)'.")
    }

    package static func conflict(_ field: String?, _ message: String) -> ReleaseError {
        ReleaseError(status: 409, field: field, message: message)
    }
}

/// Release changes as pure functions of a model: each returns the changed model or says why not.
extension ModelSpec {
    package func versionIndex(_ name: String, field: String = "version") throws(ReleaseError) -> Int {
        guard let index = versions.firstIndex(where: { $0.name == name }) else { throw .unknownVersion(name, field: field) }
        return index
    }

    package var defaultVersionName: String { defaultVersion?.name ?? "" }

    /// The whole split at once; percentages of active versions must sum to exactly 100.
    package func withSplit(_ weights: [String: Int]) throws(ReleaseError) -> ModelSpec {
        var model = self
        for name in weights.keys.sorted() {
            let index = try model.versionIndex(name, field: "weights.\(name)")
            guard model.versions[index].isActive || weights[name] == 0 else {
                throw .invalid("weights.\(name)", "Version '\(name)' is inactive; activate it before giving it traffic.")
            }
        }
        for index in model.versions.indices where model.versions[index].isActive {
            model.versions[index].weightBasisPoints = weights[model.versions[index].name] ?? 0
        }
        let total = model.versions.filter(\.isActive).reduce(0) { $0 + $1.weightBasisPoints }
        guard total == ReleaseSplit.bucketCount else {
            throw .invalid("weights", "Weights of active versions must sum to 100, got \(percentText(basisPoints: total)).")
        }
        return model
    }

    /// One version's share; the default version absorbs the difference.
    package func withWeight(_ basisPoints: Int, for name: String) throws(ReleaseError) -> ModelSpec {
        var model = self
        let index = try model.versionIndex(name)
        guard let defaultIndex = model.versions.firstIndex(where: \.isDefault) else { throw .conflict(nil, "The model has no default version.") }
        guard index != defaultIndex else {
            throw .invalid("version", "The default version's share is what the others leave; set the other versions' shares or the whole split.")
        }
        guard model.versions[index].isActive else { throw .invalid("version", "Version '\(name)' is inactive.") }
        let others = model.versions.indices.filter { $0 != index && $0 != defaultIndex && model.versions[$0].isActive }
            .reduce(0) { $0 + model.versions[$1].weightBasisPoints }
        let remaining = ReleaseSplit.bucketCount - others - basisPoints
        guard basisPoints >= 0, remaining >= 0 else {
            throw .invalid(
                "weight",
                "Cannot give '\(name)' \(percentText(basisPoints: basisPoints)) %: the other versions hold \(percentText(basisPoints: others)) %, so at most \(percentText(basisPoints: ReleaseSplit.bucketCount - others)) % is free."
            )
        }
        model.versions[index].weightBasisPoints = basisPoints
        model.versions[defaultIndex].weightBasisPoints = remaining
        return model
    }

    /// Makes `name` the default version; the split is unchanged.
    package func withDefault(_ name: String) throws(ReleaseError) -> ModelSpec {
        var model = self
        let index = try model.versionIndex(name)
        guard model.versions[index].isActive else { throw .invalid("version", "An inactive version cannot be the default.") }
        let previous = model.defaultVersionName
        guard previous != name else { return model }
        for position in model.versions.indices { model.versions[position].isDefault = position == index }
        model.previousDefault = previous
        // The seed's rollout of this version is done once it is the default.
        if model.seedRollout?.canary == name { model.seedRollout = nil }
        // A version that serves everyone has nothing left to be shadowed against.
        if model.shadow?.version == name { model.shadow = nil }
        return model.orderedForRelease()
    }

    /// All traffic to `name` at once, which becomes (or stays) the default.
    package func rolledBack(to name: String) throws(ReleaseError) -> ModelSpec {
        var model = try withDefault(name)
        for index in model.versions.indices {
            model.versions[index].weightBasisPoints = model.versions[index].name == name ? ReleaseSplit.bucketCount : 0
        }
        return model
    }

    /// The version a rollback without a target returns to.
    package var rollbackTarget: String? {
        guard let previous = previousDefault, versions.contains(where: { $0.name == previous && $0.isActive }) else { return nil }
        return previous
    }

    /// Default first, the others by name, `canary` (if given) last: a growing canary only takes users
    /// from versions before it, so none ever moves back out of it.
    package func orderedForRelease(canary: String? = nil) -> ModelSpec {
        var model = self
        model.versions.sort { lhs, rhs in
            func rank(_ version: VersionSpec) -> Int { version.isDefault ? 0 : version.name == canary ? 2 : 1 }
            return (rank(lhs), lhs.name) < (rank(rhs), rhs.name)
        }
        return model
    }

    /// What is wrong with this model as routing would use it, one entry per problem.
    package func problems(knownProviders: Set<String>) -> [ReleaseError] {
        var problems: [ReleaseError] = []
        let defaults = versions.filter(\.isDefault)
        if defaults.count != 1 { problems.append(.invalid("default", "Exactly one version must be the default, found \(defaults.count).")) }
        if let defaultVersion = defaults.first, !defaultVersion.isActive {
            problems.append(.invalid("default", "The default version cannot be inactive."))
        }
        let total = versions.filter(\.isActive).reduce(0) { $0 + $1.weightBasisPoints }
        if total != ReleaseSplit.bucketCount {
            problems.append(.invalid("weights", "Weights of active versions must sum to 100, got \(percentText(basisPoints: total))."))
        }
        for version in versions {
            if version.backends.isEmpty { problems.append(.invalid("versions.\(version.name).backends", "A version needs at least one backend.")) }
            for (index, backend) in version.backends.enumerated() where !knownProviders.contains(backend.provider) {
                problems.append(.invalid("versions.\(version.name).backends[\(index)].provider", "Unknown provider '\(backend.provider)'."))
            }
        }
        if let shadow {
            if let version = versions.first(where: { $0.name == shadow.version }) {
                if version.isDefault { problems.append(.invalid("shadow.version", "The shadow cannot be the default version.")) }
            } else {
                problems.append(.invalid("shadow.version", "No version '\(shadow.version)'."))
            }
        }
        return problems
    }
}
