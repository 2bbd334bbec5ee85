import Foundation
import Logging
import SwitchyardCore

/// Owns every change to the configuration made while serving (admin API, rollouts): each is one
/// repository transaction with its audit rows, then a rebuilt snapshot swapped in for routing.
/// An actor, so changes apply one at a time and none is lost to a concurrent one.
package actor ConfigurationWriter {
    private let holder: ConfigurationHolder
    private let repository: any ConfigurationRepository
    let releases: any ReleaseRepository
    private let environment: [String: String]
    let logger: Logger
    var stored = ConfigurationSpec()
    /// Unfinished rollouts and the newest of each model; older finished ones stay in the repository
    /// only (read back when asked for), so memory does not grow with every rollout ever run.
    private var rollouts: [String: Rollout] = [:]
    var experiments: [String: Experiment] = [:]
    /// Scheduled starts that could not happen yet (another experiment or a rollout runs on the model), logged once.
    var deferredStarts: Set<String> = []

    package init(
        holder: ConfigurationHolder, repository: any ConfigurationRepository, releases: any ReleaseRepository, environment: [String: String],
        logger: Logger
    ) {
        self.holder = holder
        self.repository = repository
        self.releases = releases
        self.environment = environment
        self.logger = logger
    }

    /// Reads the stored configuration and rollouts and swaps in a fresh snapshot.
    package func reload() async throws {
        stored = try await repository.loadConfiguration()
        rollouts = Dictionary(uniqueKeysWithValues: try await releases.loadRollouts().map { ($0.id, $0) })
        forgetOldFinishedRollouts()
        experiments = Dictionary(uniqueKeysWithValues: try await releases.loadExperiments().map { ($0.id, $0) })
        publish()
    }

    private func publish() {
        let rolloutModels = Set(rollouts.values.filter { !$0.isFinished }.map(\.model))
        var rolloutShadows: [String: ShadowSpec] = [:]
        for rollout in rollouts.values {
            guard let step = rollout.currentShadowStep else { continue }
            // The model's own shadow settings bound the rollout's copies too, when it has them.
            let own = stored.models.first { $0.name == rollout.model }?.shadow
            rolloutShadows[rollout.model] = ShadowSpec(
                version: rollout.canary, shareBasisPoints: step.shareBasisPoints, maxInFlight: own?.maxInFlight ?? ShadowSpec.defaultMaxInFlight,
                keepExamples: own?.keepExamples ?? 0)
        }
        holder.replace(
            with: EffectiveConfiguration(
                stored, environment: environment, rolloutModels: rolloutModels, experiments: experiments.values.filter { $0.status == .running },
                rolloutShadows: rolloutShadows))
    }

    package var configuration: ConfigurationSpec { stored }

    package func model(_ name: String) throws(ReleaseError) -> ModelSpec {
        guard let model = stored.models.first(where: { $0.name == name && $0.enabled }) else {
            throw ReleaseError(status: 404, field: "model", message: "No model '\(name)'.")
        }
        return model
    }

    package func activeRollout(of model: String) -> Rollout? {
        rollouts.values.filter { $0.model == model && !$0.isFinished }.max { $0.createdAt < $1.createdAt }
    }

    package func rollout(_ id: String) async throws -> Rollout? {
        if let rollout = rollouts[id] { return rollout }
        return try await releases.loadRollout(id: id)
    }

    private func forgetOldFinishedRollouts() {
        let newest = Set(latestRollouts().map(\.id))
        rollouts = rollouts.filter { !$0.value.isFinished || newest.contains($0.key) }
    }

    /// The newest rollout of each model.
    package func latestRollouts() -> [Rollout] {
        Dictionary(grouping: rollouts.values, by: \.model).values.compactMap { $0.max { $0.createdAt < $1.createdAt } }
    }

    /// Stored rollouts, finished ones included, newest first; read from the repository without
    /// waiting for the writer's turn.
    package nonisolated func rolloutSummaries(_ query: RolloutQuery) async throws -> [RolloutSummary] {
        try await releases.rolloutSummaries(query)
    }

    package func versionTimes(model: String) async throws -> [String: VersionTimes] {
        try await releases.versionTimes(model: model)
    }

    package func auditLog(object: String?, since: Double?, limit: Int) async throws -> [AuditEntry] {
        try await releases.auditLog(object: object, since: since, limit: limit)
    }

    // MARK: Model changes

    /// Applies `transform` to a model, validates the result and stores it with an audit row.
    @discardableResult
    package func change(
        model name: String, actor: String, action: String, _ transform: (ModelSpec) throws(ReleaseError) -> ModelSpec
    ) async throws -> ModelSpec {
        let before = try model(name)
        var after = try transform(before)
        var rollout = activeRollout(of: name)
        // A rollback, or moving the default by hand, ends a rollout of that model that would move traffic again.
        let endsRollout = action == "rollback" || after.defaultVersionName != before.defaultVersionName
        if var running = rollout, endsRollout {
            _ = running.abort(reason: "\(action) by \(actor)", now: Self.now())
            if running.canary != after.defaultVersionName, after.versions.contains(where: { $0.name == running.canary && $0.isActive }) {
                after = try after.withWeight(0, for: running.canary)
            }
            rollout = running
        } else if let running = rollout {
            guard after.versions.contains(where: { $0.name == running.canary && $0.isActive }) else {
                throw ReleaseError.conflict(
                    "version", "Version '\(running.canary)' is the canary of rollout \(running.id); abort or promote the rollout first.")
            }
            after = after.orderedForRelease(canary: running.canary)
        }
        try validate(after)
        for experiment in experiments.values where experiment.model == name && [.running, .paused].contains(experiment.status) {
            for variant in experiment.variants {
                guard case .version(let version) = variant.target, !after.versions.contains(where: { $0.name == version && $0.isActive }) else {
                    continue
                }
                throw ReleaseError.conflict(
                    "version", "Version '\(version)' is variant '\(variant.id)' of experiment \(experiment.id); complete the experiment first.")
            }
        }
        var change = ConfigurationChange(
            objects: [.model(after)], audit: [audit(actor: actor, source: .api, before: before, after: after, action: action)])
        if let rollout, endsRollout {
            change.rollout = rollout
            change.rolloutEvent = "aborted: \(action) by \(actor)"
            change.audit.append(rolloutAudit(rollout, actor: actor, source: .api, action: "abort"))
        }
        try await commit(change)
        return after
    }

    private func validate(_ model: ModelSpec) throws(ReleaseError) {
        if let problem = model.problems(knownProviders: Set(stored.providers.map(\.id))).first { throw problem }
    }

    func commit(_ change: ConfigurationChange) async throws {
        try await releases.apply(change)
        for object in change.objects { stored.put(object) }
        for key in change.deletedObjects { stored.remove(key: key) }
        if let rollout = change.rollout {
            rollouts[rollout.id] = rollout
            if rollout.isFinished { forgetOldFinishedRollouts() }
        }
        if let experiment = change.experiment { experiments[experiment.id] = experiment }
        if let deleted = change.deletedExperiment { experiments[deleted] = nil }
        publish()
    }

    private func audit(actor: String, source: AuditEntry.Source, before: ModelSpec, after: ModelSpec, action: String) -> AuditEntry {
        AuditEntry(
            time: Self.now(), actor: actor, source: source, object: "model:\(after.name)", action: action,
            before: ConfigurationObject.model(before).canonicalJSON, after: ConfigurationObject.model(after).canonicalJSON)
    }

    private func rolloutAudit(_ rollout: Rollout, actor: String, source: AuditEntry.Source, action: String, before: Rollout? = nil) -> AuditEntry {
        AuditEntry(
            time: Self.now(), actor: actor, source: source, object: "rollout:\(rollout.id)", action: action,
            before: before.map(Self.summary), after: Self.summary(rollout))
    }

    private static func summary(_ rollout: Rollout) -> String {
        let value: JSONValue = .object([
            "state": .string(rollout.state.rawValue), "step": .number(Double(rollout.currentStep)),
            "canary_weight": .number(Double(rollout.canaryWeightBasisPoints) / 100), "reason": rollout.reason.map(JSONValue.string) ?? .null,
        ])
        return String(decoding: value.jsonBytes, as: UTF8.self)
    }

    static func now() -> Double { Date().timeIntervalSince1970 }

    // MARK: Rollouts

    /// Starts the rollouts the seed declares for models it just created or changed.
    package func startSeedRollouts(models: [String]) async {
        for name in models {
            guard let model = try? model(name), let request = model.seedRollout, activeRollout(of: name) == nil else { continue }
            do {
                _ = try await startRollout(
                    model: name, canary: request.canary, steps: request.steps, analysis: request.analysis, actor: "seed", source: .seed)
            } catch {
                logger.error("starting the seed's rollout failed", metadata: ["model": .string(name), "error": "\(error)"])
            }
        }
    }

    package func startRollout(
        model name: String, canary: String, steps: [RolloutStep], analysis: RolloutAnalysis, actor: String, source: AuditEntry.Source = .api
    ) async throws -> Rollout {
        let current = try model(name)
        let index = try current.versionIndex(canary, field: "canary")
        guard !current.versions[index].isDefault else { throw ReleaseError.invalid("canary", "The canary cannot be the default version.") }
        guard current.versions[index].isActive else { throw ReleaseError.invalid("canary", "The canary version is inactive.") }
        if let running = activeRollout(of: name) {
            throw ReleaseError.conflict("model", "Rollout \(running.id) of '\(name)' is still \(running.state.rawValue); promote or abort it first.")
        }
        if let experiment = runningExperiment(of: name) {
            throw ReleaseError.conflict("model", "Experiment \(experiment.id) runs on '\(name)'; pause or complete it first.")
        }
        let now = Self.now()
        var rollout = Rollout(
            id: "r-" + RequestIdentifier.make().prefix(12), model: name, canary: canary, stable: current.defaultVersionName, steps: steps,
            analysis: analysis, now: now)
        let actions = rollout.advance(now: now)
        var after = current.orderedForRelease(canary: canary)
        after = try Self.apply(actions, canary: canary, to: after)
        try validate(after)
        try await commit(
            ConfigurationChange(
                objects: [.model(after)], rollout: rollout, rolloutEvent: "started",
                audit: [
                    rolloutAudit(rollout, actor: actor, source: source, action: "start"),
                    audit(actor: actor, source: source, before: current, after: after, action: "rollout_step"),
                ]))
        logger.notice("rollout started", metadata: ["rollout.id": .string(rollout.id), "model": .string(name), "canary": .string(canary)])
        return rollout
    }

    package enum Control: String, Sendable {
        case promote, pause, resume, abort
    }

    package func control(_ id: String, _ control: Control, full: Bool = false, actor: String) async throws -> Rollout {
        guard var rollout = try await self.rollout(id) else { throw ReleaseError(status: 404, field: "id", message: "No rollout '\(id)'.") }
        guard !rollout.isFinished else {
            throw ReleaseError.conflict("id", "Rollout \(id) is already \(rollout.state.rawValue).")
        }
        let before = rollout
        let now = Self.now()
        var actions: [Rollout.Action] = []
        switch control {
        case .promote: actions = rollout.promote(full: full, now: now)
        case .pause: rollout.pause(now: now)
        case .resume: actions = rollout.resume(now: now)
        case .abort: actions = rollout.abort(reason: "aborted by \(actor)", now: now)
        }
        try await record(rollout, before: before, actions: actions, actor: actor, source: .api, event: "\(control.rawValue) by \(actor)")
        return rollouts[id] ?? rollout
    }

    /// Runs due steps and evaluations of every unfinished rollout. The analysis reads `windows`
    /// when given (the outcomes of every instance, from a shared database), else this process's
    /// recent `outcomes`.
    package func tick(now: Double, outcomes: RecentOutcomes, windows: (any OutcomeWindowRepository)? = nil) async {
        outcomes.keep(
            windows: rollouts.values.filter { !$0.isFinished }.flatMap { rollout in
                [rollout.canary, rollout.stable].map { (rollout.model, $0, rollout.analysis.windowSeconds) }
            }, now: now)
        for var rollout in rollouts.values where !rollout.isFinished {
            let before = rollout
            var actions = rollout.advance(now: now)
            if now >= rollout.nextEvaluationAt {
                let since = max(rollout.stepStartedAt, now - rollout.analysis.windowSeconds)
                // On a shadow step the canary serves no one: its copies are judged.
                let shadow = rollout.currentShadowStep != nil
                let canary: VersionWindow
                let stable: VersionWindow
                if let windows {
                    do {
                        canary = try await windows.window(model: rollout.model, version: rollout.canary, since: since, shadow: shadow)
                        stable = try await windows.window(model: rollout.model, version: rollout.stable, since: since, shadow: false)
                    } catch {
                        // No verdict on outcomes that could not be read; the next tick tries again.
                        logger.error("reading a rollout's outcomes failed", metadata: ["rollout.id": .string(rollout.id), "error": "\(error)"])
                        continue
                    }
                    // A change made meanwhile (another rollout step, an admin call) wins; judge again next tick.
                    guard self.rollouts[rollout.id] == before else { continue }
                } else {
                    canary = outcomes.window(model: rollout.model, version: rollout.canary, since: since, shadow: shadow)
                    stable = outcomes.window(model: rollout.model, version: rollout.stable, since: since)
                }
                actions += rollout.evaluate(now: now, canary: canary, stable: stable)
            }
            guard rollout != before else { continue }
            let event = rollout.state != before.state || rollout.currentStep != before.currentStep ? Self.describe(rollout) : nil
            do {
                try await record(rollout, before: before, actions: actions, actor: "rollout", source: .rollout, event: event)
            } catch {
                logger.error("recording a rollout failed", metadata: ["rollout.id": .string(rollout.id), "error": "\(error)"])
            }
        }
    }

    private static func describe(_ rollout: Rollout) -> String {
        var text = "\(rollout.state.rawValue), step \(rollout.currentStep), canary at \(percentText(basisPoints: rollout.canaryWeightBasisPoints)) %"
        if let step = rollout.currentShadowStep { text += ", shadow copies of \(percentText(basisPoints: step.shareBasisPoints)) %" }
        if let reason = rollout.reason { text += ": \(reason)" }
        return text
    }

    /// Stores a rollout's new state with the model change its actions make; an audit row for each transition.
    private func record(
        _ rollout: Rollout, before: Rollout, actions: [Rollout.Action], actor: String, source: AuditEntry.Source, event: String?
    ) async throws {
        var rollout = rollout
        var change = ConfigurationChange(rollout: rollout, rolloutEvent: event)
        if !actions.isEmpty, let current = try? model(rollout.model) {
            do {
                let after = try Self.apply(actions, canary: rollout.canary, to: current)
                try validate(after)
                change.objects = [.model(after)]
                change.audit.append(audit(actor: actor, source: source, before: current, after: after, action: "rollout_step"))
            } catch {
                _ = rollout.abort(reason: "cannot apply step: \(error.message)", now: Self.now())
                let aborted = (try? Self.apply([.abort], canary: rollout.canary, to: current)) ?? current
                change = ConfigurationChange(objects: [.model(aborted)], rollout: rollout, rolloutEvent: Self.describe(rollout))
            }
        }
        if rollout.state != before.state || rollout.currentStep != before.currentStep || event != nil && source == .api {
            change.audit.append(rolloutAudit(rollout, actor: actor, source: source, action: rollout.state.rawValue, before: before))
        }
        change.rollout = rollout
        try await commit(change)
        if rollout.state != before.state {
            logger.notice(
                "rollout transition",
                metadata: [
                    "rollout.id": .string(rollout.id), "rollout.from": .string(before.state.rawValue), "rollout.to": .string(rollout.state.rawValue),
                    "rollout.reason": .string(rollout.reason ?? ""),
                ])
        }
    }

    static func apply(_ actions: [Rollout.Action], canary: String, to model: ModelSpec) throws(ReleaseError) -> ModelSpec {
        var model = model
        for action in actions {
            switch action {
            case .setCanaryWeight(let basisPoints): model = try model.withWeight(basisPoints, for: canary)
            case .promote: model = try model.rolledBack(to: canary)
            case .abort: model = try model.withWeight(0, for: canary)
            }
        }
        return model
    }
}
