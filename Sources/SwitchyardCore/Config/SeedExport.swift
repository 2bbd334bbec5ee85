/// The stored configuration written back as a seed: reading the text gives the same objects
/// (DESIGN §6). Secrets never leave: `env:` references are written as they are, literal keys and
/// user tokens as `"<redacted>"`, which a seed may carry to keep the stored secret.
package enum SeedExport {
    package static let redacted = "<redacted>"

    package static func text(_ configuration: ConfigurationSpec, header: String) -> String {
        var document: [String: TOMLNode] = ["settings": .table(settingsTable(configuration.settings))]
        if !configuration.providers.isEmpty {
            document["providers"] = .table(Dictionary(uniqueKeysWithValues: configuration.providers.map { ($0.id, .table(providerTable($0))) }))
        }
        if !configuration.models.isEmpty {
            document["models"] = .table(
                Dictionary(uniqueKeysWithValues: configuration.models.map { ($0.name, .table(modelTable($0, settings: configuration.settings))) }))
        }
        if !configuration.users.isEmpty {
            document["users"] = .table(Dictionary(uniqueKeysWithValues: configuration.users.map { ($0.id, .table(userTable($0))) }))
        }
        var writer = SeedWriter(header: header)
        for key in ["settings", "providers", "models", "users"] {
            guard case .table(let table)? = document[key] else { continue }
            TOMLRendering.write(table, path: [key], into: &writer)
        }
        return writer.text
    }

    // MARK: Objects as seed tables

    package static func settingsTable(_ settings: GatewaySettings) -> [String: TOMLNode] {
        var table: [String: TOMLNode] = [
            "request_timeout_seconds": number(settings.requestTimeoutSeconds),
            "connect_timeout_seconds": number(settings.connectTimeoutSeconds),
            "idle_timeout_seconds": number(settings.idleTimeoutSeconds), "max_retries": .integer(settings.maxRetries),
            "health_check_interval_seconds": number(settings.healthCheckIntervalSeconds),
            "health_check_timeout_seconds": number(settings.healthCheckTimeoutSeconds),
            "circuit_breaker_failure_threshold": .integer(settings.circuitBreaker.failureThreshold),
            "circuit_breaker_error_rate_threshold": number(settings.circuitBreaker.errorRateThreshold),
            "circuit_breaker_window": .integer(settings.circuitBreaker.window),
            "circuit_breaker_timeout_seconds": number(settings.circuitBreaker.openSeconds),
            "session_ttl_seconds": number(settings.sessionTTLSeconds), "stream_keepalive_seconds": number(settings.streamKeepAliveSeconds),
            "smart_ai": .table(smartAITable(settings.smartAI)),
        ]
        if let firstByte = settings.firstByteTimeoutSeconds { table["first_byte_timeout_seconds"] = number(firstByte) }
        return table
    }

    static func smartAITable(_ smartAI: SmartAISettings) -> [String: TOMLNode] {
        [
            "initial_confidence": number(smartAI.initialConfidence), "min_confidence": number(smartAI.minConfidence),
            "exploration_ratio": number(smartAI.explorationRatio), "success_reward": number(smartAI.successReward),
            "failure_penalty": number(smartAI.failurePenalty), "decay_half_life_seconds": number(smartAI.decayHalfLifeSeconds),
            "confidence_threshold": number(smartAI.confidenceThreshold),
        ]
    }

    package static func providerTable(_ provider: ProviderSpec) -> [String: TOMLNode] {
        var table: [String: TOMLNode] = [
            "format": .string(provider.format.rawValue), "cost_input_per_mtok": number(provider.costInputPerMillionTokens),
            "cost_output_per_mtok": number(provider.costOutputPerMillionTokens), "health_check": .string(provider.healthCheck.rawValue),
            "enabled": .bool(provider.enabled),
        ]
        table["base_url"] = provider.baseURL.map { .string(URLCredentials.redacted($0)) }
        table["api_key"] = provider.apiKey.map(secret)
        if !provider.headers.isEmpty { table["headers"] = .table(provider.headers.mapValues(secret)) }
        table["region"] = provider.region.map(TOMLNode.string)
        table["timeout_seconds"] = provider.timeoutSeconds.map(number)
        table["health_check_model"] = provider.healthCheckModel.map(TOMLNode.string)
        table["api_version"] = provider.apiVersion.map(TOMLNode.string)
        table["models_path"] = provider.modelsPath.map(TOMLNode.string)
        if provider.format == .mock { table["speaks"] = .string(provider.speaks.rawValue) }
        table["responses"] = provider.responses.map(TOMLNode.bool)
        table["cost_cached_input_per_mtok"] = provider.costCachedInputPerMillionTokens.map(number)
        table["cost_cache_write_per_mtok"] = provider.costCacheWritePerMillionTokens.map(number)
        return table
    }

    package static func modelTable(_ model: ModelSpec, settings: GatewaySettings) -> [String: TOMLNode] {
        var table: [String: TOMLNode] = [
            "strategy": .string(model.strategy.rawValue), "sticky": .string(model.sticky.rawValue), "enabled": .bool(model.enabled),
            "release_strategy": .string(model.releaseStrategy.rawValue),
        ]
        table["hash_seed"] = model.hashSeed.map(TOMLNode.string)
        if let smartAI = model.smartAI {
            table["smart_ai"] = .table([
                "exploration_ratio": number(smartAI.explorationRatio), "confidence_threshold": number(smartAI.confidenceThreshold),
            ])
        }
        var versions: [String: TOMLNode] = [:]
        for version in model.versions {
            var entry: [String: TOMLNode] = [
                "weight": percent(version.weightBasisPoints), "default": .bool(version.isDefault), "active": .bool(version.isActive),
                "backends": .array(version.backends.map { .table(backendTable($0)) }),
            ]
            if !version.params.isEmpty { entry["params"] = .table(version.params.mapValues(TOMLNode.init(json:))) }
            versions[version.name] = .table(entry)
        }
        table["versions"] = .table(versions)
        if let rollout = model.seedRollout { table["rollout"] = .table(rolloutTable(rollout)) }
        if let shadow = model.shadow { table["shadow"] = .table(shadowTable(shadow)) }
        return table
    }

    static func backendTable(_ backend: BackendSpec) -> [String: TOMLNode] {
        var table: [String: TOMLNode] = [
            "provider": .string(backend.provider), "model": .string(backend.model), "weight": number(backend.weight),
            "priority": .integer(backend.priority),
        ]
        if !backend.tags.isEmpty { table["tags"] = .array(backend.tags.map(TOMLNode.string)) }
        table["deployment"] = backend.deployment.map(TOMLNode.string)
        if let mock = backend.mock {
            var settings: [String: TOMLNode] = [
                "latency_ms": number(mock.latencyMilliseconds), "ttft_ms": number(mock.timeToFirstTokenMilliseconds),
                "chunks": .integer(mock.chunks), "error_rate": number(mock.errorRate),
            ]
            settings["seed"] = mock.seed.map { .integer(Int(truncatingIfNeeded: $0)) }
            table["mock"] = .table(settings)
        }
        return table
    }

    static func rolloutTable(_ rollout: RolloutRequest) -> [String: TOMLNode] {
        let steps: [TOMLNode] = rollout.steps.map { step in
            switch step {
            case .setWeight(let points): return .table(["set_weight": percent(points)])
            case .pause(let seconds?): return .table(["pause": .string(Duration.text(seconds: seconds))])
            case .pause(nil): return .table(["pause": .table([:])])
            case .shadow(let shadow):
                return .table([
                    "shadow": .table([
                        "share": percent(shadow.shareBasisPoints), "duration": .string(Duration.text(seconds: shadow.durationSeconds)),
                        "min_requests": .integer(shadow.minRequests),
                    ])
                ])
            }
        }
        let analysis = rollout.analysis
        var analysisTable: [String: TOMLNode] = [
            "interval": .string(Duration.text(seconds: analysis.intervalSeconds)), "window": .string(Duration.text(seconds: analysis.windowSeconds)),
            "min_requests": .integer(analysis.minRequests), "significance": number(analysis.significance),
            "failure_limit": .integer(analysis.failureLimit),
        ]
        analysisTable["max_error_rate"] = analysis.maxErrorRate.map(number)
        analysisTable["max_p95_latency_ms"] = analysis.maxP95LatencyMilliseconds.map(number)
        analysisTable["max_p95_ttft_ms"] = analysis.maxP95TTFTMilliseconds.map(number)
        analysisTable["max_error_rate_increase"] = analysis.maxErrorRateIncrease.map(number)
        analysisTable["max_latency_ratio"] = analysis.maxLatencyRatio.map(number)
        analysisTable["min_agreement"] = analysis.minAgreement.map(number)
        return ["canary": .string(rollout.canary), "steps": .array(steps), "analysis": .table(analysisTable)]
    }

    static func shadowTable(_ shadow: ShadowSpec) -> [String: TOMLNode] {
        [
            "version": .string(shadow.version), "share": percent(shadow.shareBasisPoints), "max_in_flight": .integer(shadow.maxInFlight),
            "keep_examples": .integer(shadow.keepExamples),
        ]
    }

    package static func userTable(_ user: UserSpec) -> [String: TOMLNode] {
        var table: [String: TOMLNode] = ["token": .string(redacted), "enabled": .bool(user.enabled)]
        table["name"] = user.name.map(TOMLNode.string)
        if !user.allowedModels.isEmpty { table["allowed_models"] = .array(user.allowedModels.map(TOMLNode.string)) }
        if !user.tags.isEmpty { table["tags"] = .array(user.tags.map(TOMLNode.string)) }
        table["region"] = user.region.map(TOMLNode.string)
        if let limit = user.rateLimit {
            var limits: [String: TOMLNode] = [:]
            limits["requests_per_minute"] = limit.requestsPerMinute.map(TOMLNode.integer)
            limits["requests_per_hour"] = limit.requestsPerHour.map(TOMLNode.integer)
            limits["tokens_per_minute"] = limit.tokensPerMinute.map(TOMLNode.integer)
            table["rate_limit"] = .table(limits)
        }
        if let budget = user.budget {
            var limits: [String: TOMLNode] = [:]
            limits["daily_usd"] = budget.dailyUSD.map(number)
            limits["monthly_usd"] = budget.monthlyUSD.map(number)
            table["budget"] = .table(limits)
        }
        return table
    }

    // MARK: Values

    static func secret(_ reference: SecretReference) -> TOMLNode {
        switch reference {
        case .environment: return .string(reference.written)
        case .literal: return .string(redacted)
        }
    }

    static func number(_ value: Double) -> TOMLNode {
        value.rounded() == value && abs(value) < 1e15 ? .integer(Int(value)) : .double(value)
    }

    static func percent(_ basisPoints: Int) -> TOMLNode {
        basisPoints % 100 == 0 ? .integer(basisPoints / 100) : .double(Double(basisPoints) / 100)
    }
}

/// Writes a tree of TOML nodes as text: plain values first, then sub-tables as `[a.b]` sections;
/// tables inside arrays inline.
enum TOMLRendering {
    static func write(_ table: [String: TOMLNode], path: [String], into writer: inout SeedWriter) {
        writer.table(path)
        var subtables: [(String, [String: TOMLNode])] = []
        for key in table.keys.sorted() {
            guard let value = table[key] else { continue }
            // Objects (`[providers.ID]`, …) get sections; small tables deeper down read better inline.
            if case .table(let child) = value, path.count == 1 || (!child.isEmpty && !isInlineOnly(child)) {
                subtables.append((key, child))
            } else {
                writer.line(key, inline(value))
            }
        }
        for (key, child) in subtables {
            write(child, path: path + [key], into: &writer)
        }
    }

    /// Small tables of plain values read better inline (`rate_limit = { … }`).
    private static func isInlineOnly(_ table: [String: TOMLNode]) -> Bool {
        table.count <= 4
            && table.values.allSatisfy {
                if case .table = $0 { return false }
                if case .array = $0 { return false }
                return true
            }
    }

    static func inline(_ node: TOMLNode) -> String {
        switch node {
        case .string(let value): return SeedWriter.string(value)
        case .integer(let value): return String(value)
        case .double(let value): return value.isFinite ? String(value) : (value.isNaN ? "nan" : (value > 0 ? "inf" : "-inf"))
        case .bool(let value): return value ? "true" : "false"
        case .other(let value): return value
        case .array(let items): return "[" + items.map(inline).joined(separator: ", ") + "]"
        case .table(let members):
            guard !members.isEmpty else { return "{}" }
            return "{ " + members.keys.sorted().map { "\(SeedWriter.key($0)) = \(inline(members[$0]!))" }.joined(separator: ", ") + " }"
        }
    }
}
