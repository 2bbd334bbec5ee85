import Foundation
import SwitchyardCore

/// Providers, models, users and settings changed through the admin API: each write is one
/// transaction with its audit row, then a fresh snapshot, like every other change.
extension ConfigurationWriter {
    package enum Write: String, Sendable {
        case create, update
    }

    /// Stores a created or replaced object after checking it against the rest of the configuration.
    @discardableResult
    package func put(_ object: ConfigurationObject, _ write: Write, actor: String) async throws -> ConfigurationObject {
        let before = stored.object(forKey: object.key)
        switch (write, before) {
        case (.create, _?): throw ReleaseError.conflict(Self.identityField(of: object), "\(object.key) exists already.")
        case (.update, nil): throw ReleaseError(status: 404, field: Self.identityField(of: object), message: "No \(object.key).")
        default: break
        }
        if case .model(let model) = object, write == .update {
            try refuseWhileReleasing(model.name)
        }
        try await commit(
            ConfigurationChange(
                objects: [object],
                audit: [
                    AuditEntry(
                        time: Self.now(), actor: actor, source: .api, object: object.key, action: write.rawValue,
                        before: before?.auditJSON, after: object.auditJSON)
                ]))
        return object
    }

    package func delete(_ key: String, actor: String) async throws {
        guard let before = stored.object(forKey: key) else {
            throw ReleaseError(status: 404, field: key.hasPrefix("model:") ? "name" : "id", message: "No \(key).")
        }
        switch before {
        case .provider(let provider):
            if let model = stored.models.first(where: { model in
                model.enabled && model.versions.contains { $0.backends.contains { $0.provider == provider.id } }
            }) {
                throw ReleaseError.conflict("id", "Model '\(model.name)' has backends on provider '\(provider.id)'; change them first.")
            }
        case .model(let model):
            try refuseWhileReleasing(model.name)
            if let experiment = experiments.values.first(where: { experiment in
                [.running, .paused].contains(experiment.status) && experiment.variants.contains { $0.target == .model(model.name) }
            }) {
                throw ReleaseError.conflict("name", "A variant of experiment \(experiment.id) is '\(model.name)'; complete the experiment first.")
            }
            if let user = stored.users.first(where: { $0.allowedModels.contains(model.name) }) {
                throw ReleaseError.conflict("name", "User '\(user.id)' is allowed '\(model.name)'; change the user's allowed_models first.")
            }
            if let experiment = experiments.values.first(where: { $0.model == model.name && $0.status == .paused }) {
                throw ReleaseError.conflict("name", "Experiment \(experiment.id) on '\(model.name)' is paused; complete it first.")
            }
        case .settings, .user:
            break
        }
        var change = ConfigurationChange(
            audit: [AuditEntry(time: Self.now(), actor: actor, source: .api, object: key, action: "delete", before: before.auditJSON, after: nil)]
        )
        change.deletedObjects = [key]
        try await commit(change)
    }

    private func refuseWhileReleasing(_ model: String) throws(ReleaseError) {
        if let rollout = activeRollout(of: model) {
            throw ReleaseError.conflict("name", "Rollout \(rollout.id) of '\(model)' is \(rollout.state.rawValue); promote or abort it first.")
        }
        if let experiment = runningExperiment(of: model) {
            throw ReleaseError.conflict("name", "Experiment \(experiment.id) runs on '\(model)'; pause or complete it first.")
        }
    }

    private static func identityField(of object: ConfigurationObject) -> String {
        switch object {
        case .model: return "name"
        case .settings: return "settings"
        case .provider, .user: return "id"
        }
    }

    /// Counts for `GET /api/system`.
    package var counts: (providers: Int, models: Int, users: Int, experiments: Int, runningRollouts: Int) {
        (stored.providers.count, stored.models.count, stored.users.count, experiments.count, latestRollouts().filter { !$0.isFinished }.count)
    }
}
