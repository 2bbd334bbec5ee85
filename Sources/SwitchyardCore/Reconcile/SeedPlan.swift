/// What applying a seed does to the stored configuration, decided per object (DESIGN §6):
/// an object whose seed form changed since it was last applied is applied again; an unchanged one
/// keeps whatever was set since; one that left the seed is disabled, not deleted.
package struct SeedPlan: Sendable {
    package enum Action: String, Sendable {
        case create, update, disable
    }

    package struct Change: Sendable {
        package var action: Action
        package var before: ConfigurationObject?
        package var after: ConfigurationObject
        package var key: String { after.key }
    }

    package var changes: [Change]
    package var unchanged: [String]
    /// The seed form now applied, per object key; keys of disabled objects are gone.
    package var appliedFingerprints: [String: String]

    /// - Parameters:
    ///   - seed: the validated seed.
    ///   - stored: the configuration currently stored.
    ///   - appliedFingerprints: per object key, the fingerprint of the seed form last applied.
    package init(seed: ConfigurationSpec, stored: ConfigurationSpec, appliedFingerprints: [String: String]) {
        var changes: [Change] = []
        var unchanged: [String] = []
        var applied = appliedFingerprints
        var seedKeys: Set<String> = []
        for declared in seed.objects {
            let key = declared.key
            seedKeys.insert(key)
            let fingerprint = declared.fingerprint
            let before = stored.object(forKey: key)
            // Unchanged in the seed: whatever the admin API did since stays, a deletion included.
            if appliedFingerprints[key] == fingerprint {
                unchanged.append(key)
                continue
            }
            let object = before.map { declared.keepingRunTimeState(of: $0) } ?? declared
            applied[key] = fingerprint
            if before == object {
                unchanged.append(key)
            } else {
                changes.append(Change(action: before == nil ? .create : .update, before: before, after: object))
            }
        }
        for key in appliedFingerprints.keys.sorted() where !seedKeys.contains(key) {
            applied[key] = nil
            guard let before = stored.object(forKey: key), let after = before.disabled, before != after else { continue }
            changes.append(Change(action: .disable, before: before, after: after))
        }
        self.changes = changes
        self.unchanged = unchanged
        self.appliedFingerprints = applied
    }

    package var report: SeedApplyReport {
        var report = SeedApplyReport()
        for change in changes {
            switch change.action {
            case .create: report.created.append(change.key)
            case .update: report.updated.append(change.key)
            case .disable: report.disabled.append(change.key)
            }
        }
        report.unchanged = unchanged
        return report
    }
}

extension ConfigurationObject {
    /// What a seed cannot say but the stored object knows: secrets behind the export placeholder,
    /// the version that was default before, and the order of versions a release history left.
    func keepingRunTimeState(of stored: ConfigurationObject) -> ConfigurationObject {
        switch (self, stored) {
        case (.provider(let provider), .provider(let before)):
            return .provider(provider.keepingSecrets(of: before))
        case (.user(var user), .user(let before)):
            if user.tokenDigest == TokenDigest.redacted { user.tokenDigest = before.tokenDigest }
            return .user(user)
        case (.model(var model), .model(let before)):
            if model.previousDefault == nil { model.previousDefault = before.previousDefault }
            if Set(model.versions.map(\.name)) == Set(before.versions.map(\.name)) {
                let position = Dictionary(uniqueKeysWithValues: before.versions.enumerated().map { ($1.name, $0) })
                model.versions.sort { position[$0.name]! < position[$1.name]! }
            }
            return .model(model)
        default:
            return self
        }
    }
}
