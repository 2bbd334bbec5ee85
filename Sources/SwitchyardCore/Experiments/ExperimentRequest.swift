import Foundation

/// Reads the body of `POST /api/experiments`; every problem is reported with its field.
package struct ExperimentRequest: Sendable, Hashable {
    package var name: String
    package var description: String
    package var model: String
    package var strategy: Experiment.Strategy
    package var hashSeed: String?
    package var startTime: Double?
    package var endTime: Double?
    package var minSamples: Int
    package var variants: [Experiment.Variant]
    package var control: String
    package var createdBy: String

    package static func read(from table: TableReader) -> ExperimentRequest? {
        let errorCount = table.errors.errors.count
        let name = table.requiredString("name")
        if let name, let problem = ObjectName.displayProblem(name) { table.fail("name", problem) }
        let description = table.string("description") ?? ""
        let model = table.requiredString("model")
        var strategy = Experiment.Strategy.consistentHash
        if let text = table.string("strategy") {
            if let parsed = Experiment.Strategy(rawValue: text) {
                strategy = parsed
            } else {
                table.fail("strategy", "unknown strategy \"\(text)\" (supported: consistent_hash, weighted_random)")
            }
        }
        let hashSeed = table.string("hash_seed")
        let startTime = readTime(table, "start_time")
        let endTime = readTime(table, "end_time")
        if let startTime, let endTime, endTime <= startTime { table.fail("end_time", "must be after start_time") }
        let minSamples = table.integer("min_samples", in: 1...1_000_000_000) ?? Experiment.defaultMinSamples
        var variants: [Experiment.Variant] = []
        var declaredIDs: Set<String> = []
        if let variantTables = table.tables("variants") {
            for variantTable in variantTables {
                if case .string(let id)? = variantTable.values["id"] { declaredIDs.insert(id) }
            }
            for variantTable in variantTables {
                if let variant = readVariant(variantTable) { variants.append(variant) }
            }
            if variantTables.count < 2 { table.fail("variants", "an experiment needs at least two variants") }
            var seen: Set<String> = []
            for (index, variant) in variants.enumerated() where !seen.insert(variant.id).inserted {
                table.fail("variants[\(index)].id", "duplicate variant id \"\(variant.id)\"")
            }
        } else if table.values["variants"] == nil {
            table.fail("variants", "is required")
        }
        let control = table.requiredString("control")
        if let control, !declaredIDs.isEmpty, !declaredIDs.contains(control) {
            table.fail("control", "no variant has id \"\(control)\"")
        }
        let createdBy = table.string("created_by") ?? ""
        table.rejectUnknownKeys()
        guard let name, let model, let control, table.errors.errors.count == errorCount else { return nil }
        if name.isEmpty {
            table.fail("name", "must not be empty")
            return nil
        }
        return ExperimentRequest(
            name: name, description: description, model: model, strategy: strategy, hashSeed: hashSeed, startTime: startTime,
            endTime: endTime, minSamples: minSamples, variants: variants, control: control, createdBy: createdBy)
    }

    private static func readVariant(_ table: TableReader) -> Experiment.Variant? {
        defer { table.rejectUnknownKeys() }
        let id = table.requiredName("id")
        let name = table.displayText("name")
        let description = table.string("description") ?? ""
        let version = table.string("version")
        let model = table.string("model")
        let weight = table.values["weight"] == nil ? 1 : table.number("weight", in: 0...1_000_000)
        if let weight, weight <= 0 { table.fail("weight", "must be above 0") }
        if let id, id.isEmpty { table.fail("id", "must not be empty") }
        let target: Experiment.Target?
        switch (version, model) {
        case (let version?, nil): target = .version(version)
        case (nil, let model?): target = .model(model)
        case (nil, nil):
            table.fail("version", "a variant names a \"version\" of the experiment's model or another \"model\"")
            target = nil
        case (_?, _?):
            table.fail("model", "a variant names either a \"version\" or a \"model\", not both")
            target = nil
        }
        guard let id, !id.isEmpty, let target, let weight, weight > 0 else { return nil }
        return Experiment.Variant(id: id, name: name ?? id, target: target, weight: weight, description: description)
    }

    /// An ISO 8601 time or seconds since 1970.
    private static func readTime(_ table: TableReader, _ key: String) -> Double? {
        guard let node = table.values[key] else { return nil }
        if case .string(let text) = node {
            _ = table.string(key)
            let fractional = ISO8601DateFormatter()
            fractional.formatOptions.insert(.withFractionalSeconds)
            guard let date = ISO8601DateFormatter().date(from: text) ?? fractional.date(from: text) else {
                table.fail(key, "expected an ISO 8601 time like \"2026-12-01T00:00:00Z\" or seconds since 1970, got \"\(text)\"")
                return nil
            }
            return date.timeIntervalSince1970
        }
        return table.number(key, in: 0...253_402_300_799)
    }

    /// Checks what depends on the time of creation: an `end_time` already past.
    package func problems(now: Double) -> ReleaseError? {
        if let endTime, endTime <= now { return .invalid("end_time", "end_time is in the past.") }
        return nil
    }

    package func experiment(id: String, now: Double) -> Experiment {
        Experiment(
            id: id, name: name, description: description, model: model, strategy: strategy, hashSeed: hashSeed, startTime: startTime,
            endTime: endTime, minSamples: minSamples, variants: variants, control: control, createdBy: createdBy, now: now)
    }
}

extension Experiment {
    /// Checks the experiment against the configuration: the model and the variants' versions and models must exist.
    package func problems(in configuration: ConfigurationSpec) -> ReleaseError? {
        guard let modelSpec = configuration.models.first(where: { $0.name == model && $0.enabled }) else {
            return .invalid("model", "No model '\(model)'.")
        }
        for (index, variant) in variants.enumerated() {
            switch variant.target {
            case .version(let version):
                guard let found = modelSpec.versions.first(where: { $0.name == version }) else {
                    return .invalid("variants[\(index)].version", "Model '\(model)' has no version '\(version)'.")
                }
                guard found.isActive else { return .invalid("variants[\(index)].version", "Version '\(version)' is inactive.") }
            case .model(let other):
                guard other != model else {
                    return .invalid("variants[\(index)].model", "Name a version of '\(model)' with \"version\" instead.")
                }
                guard configuration.models.contains(where: { $0.name == other && $0.enabled }) else {
                    return .invalid("variants[\(index)].model", "No model '\(other)'.")
                }
            }
        }
        return nil
    }
}
