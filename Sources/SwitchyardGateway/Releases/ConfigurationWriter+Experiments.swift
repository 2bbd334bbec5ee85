import Foundation
import Logging
import SwitchyardCore

/// Experiments change what routing reads, so they go through the same actor as every other change:
/// one transaction with its audit row, then a fresh snapshot.
extension ConfigurationWriter {
    package func runningExperiment(of model: String) -> Experiment? {
        experiments.values.first { $0.model == model && $0.status == .running }
    }

    package func experiment(_ id: String) throws(ReleaseError) -> Experiment {
        guard let experiment = experiments[id] else { throw ReleaseError(status: 404, field: "id", message: "No experiment '\(id)'.") }
        return experiment
    }

    /// Newest first.
    package func experiments(status: Experiment.Status?, model: String?, createdBy: String?) -> [Experiment] {
        experiments.values.filter { experiment in
            (status.map { experiment.status == $0 } ?? true) && (model.map { experiment.model == $0 } ?? true)
                && (createdBy.map { experiment.createdBy == $0 } ?? true)
        }.sorted { ($0.createdAt, $0.id) > ($1.createdAt, $1.id) }
    }

    package func createExperiment(_ request: ExperimentRequest, actor: String) async throws -> Experiment {
        if let problem = request.problems(now: Self.now()) { throw problem }
        var experiment = request.experiment(id: "e-" + RequestIdentifier.make().prefix(12), now: Self.now())
        if experiment.createdBy.isEmpty { experiment.createdBy = actor }
        if let problem = experiment.problems(in: stored) { throw problem }
        try await commit(
            ConfigurationChange(
                experiment: experiment, audit: [experimentAudit(experiment, before: nil, actor: actor, source: .api, action: "create")])
        )
        return experiment
    }

    package func deleteExperiment(_ id: String, actor: String) async throws {
        let experiment = try experiment(id)
        guard experiment.status != .running else {
            throw ReleaseError.conflict("status", "Experiment \(id) is running; pause or complete it before deleting it.")
        }
        try await commit(
            ConfigurationChange(
                deletedExperiment: id, audit: [experimentAudit(experiment, before: experiment, actor: actor, source: .api, action: "delete")]))
    }

    package func transition(
        _ id: String, _ transition: Experiment.Transition, actor: String, source: AuditEntry.Source = .api
    ) async throws -> Experiment {
        let before = try experiment(id)
        var after = before
        try after.apply(transition, now: Self.now())
        if transition == .start {
            if let other = runningExperiment(of: before.model), other.id != id {
                throw ReleaseError.conflict("model", "Experiment \(other.id) already runs on '\(before.model)'; one at a time per model.")
            }
            if let rollout = activeRollout(of: before.model) {
                throw ReleaseError.conflict("model", "Rollout \(rollout.id) of '\(before.model)' is \(rollout.state.rawValue); finish it first.")
            }
            if let problem = after.problems(in: stored) { throw problem }
        }
        try await commit(
            ConfigurationChange(
                experiment: after, audit: [experimentAudit(after, before: before, actor: actor, source: source, action: transition.rawValue)]))
        logger.notice(
            "experiment transition",
            metadata: [
                "experiment.id": .string(id), "experiment.from": .string(before.status.rawValue), "experiment.to": .string(after.status.rawValue),
            ])
        return after
    }

    /// Starts drafts whose `start_time` has come and completes running experiments at their `end_time`.
    package func tickExperiments(now: Double) async {
        for experiment in experiments.values {
            guard let transition = experiment.scheduledTransition(now: now) else { continue }
            do {
                _ = try await self.transition(experiment.id, transition, actor: "schedule", source: .system)
                deferredStarts.remove(experiment.id)
            } catch let error as ReleaseError where error.status == 409 {
                if deferredStarts.insert(experiment.id).inserted {
                    logger.warning(
                        "scheduled experiment transition deferred",
                        metadata: ["experiment.id": .string(experiment.id), "reason": .string(error.message)])
                }
            } catch {
                logger.error("scheduled experiment transition failed", metadata: ["experiment.id": .string(experiment.id), "error": "\(error)"])
            }
        }
    }

    private func experimentAudit(
        _ experiment: Experiment, before: Experiment?, actor: String, source: AuditEntry.Source, action: String
    ) -> AuditEntry {
        func summary(_ experiment: Experiment) -> String {
            let value: JSONValue = .object([
                "name": .string(experiment.name), "model": .string(experiment.model), "status": .string(experiment.status.rawValue),
                "variants": .array(experiment.variants.map { .string($0.id) }), "control": .string(experiment.control),
            ])
            return String(decoding: value.jsonBytes, as: UTF8.self)
        }
        return AuditEntry(
            time: Self.now(), actor: actor, source: source, object: "experiment:\(experiment.id)", action: action,
            before: before.map(summary), after: action == "delete" ? nil : summary(experiment))
    }
}
