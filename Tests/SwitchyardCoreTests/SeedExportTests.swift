import Testing

@testable import SwitchyardCore

@Suite struct SeedExportTests {
    static let seed = """
        [settings]
        request_timeout_seconds = 45.5
        first_byte_timeout_seconds = 10
        max_retries = 1
        circuit_breaker_window = 30
        [settings.smart_ai]
        exploration_ratio = 0.2

        [providers.openai]
        format = "openai"
        base_url = "https://api.openai.com/v1"
        api_key = "env:OPENAI_API_KEY"
        headers = { "OpenAI-Organization" = "org-1", "X-Two" = "2", "X-Three" = "3", "X-Four" = "4", "X-Five" = "5" }
        cost_input_per_mtok = 0.15
        region = "eu"
        [providers.azure]
        format = "azure"
        base_url = "https://r.openai.azure.com"
        api_key = "literal-azure-key-123456"
        api_version = "2024-06-01"
        models_path = "/openai/models?api-version=2024-06-01"
        timeout_seconds = 12.5
        responses = false
        [providers.sim]
        format = "mock"
        speaks = "anthropic"

        [models.chat]
        strategy = "weighted_failover"
        sticky = "session"
        hash_seed = "salt"
        release_strategy = "health"
        smart_ai = { exploration_ratio = 0.3 }
        [models.chat.versions.v1]
        weight = 89.95
        default = true
        params = { temperature = 0.7, system_prompt = "Be \\"brief\\".\\nThanks", stop = ["a", "b"], nested = { k = 1 } }
        backends = [ { provider = "openai", model = "gpt-4o-mini", weight = 3, priority = 1, tags = ["team-a"] },
                     { provider = "azure", model = "gpt-4o", deployment = "prod-4o" } ]
        [models.chat.versions.v2]
        weight = 10.05
        backends = [ { provider = "sim", model = "claude-mock", mock = { latency_ms = 20, ttft_ms = 5.5, chunks = 3, error_rate = 0.01, seed = 7 } } ]
        [models.chat.versions.old]
        weight = 0
        active = false
        backends = [ { provider = "openai", model = "gpt-3.5" } ]
        [models.chat.rollout]
        canary = "v2"
        steps = [ { set_weight = 5 }, { pause = "10m" }, { pause = {} }, { set_weight = 50.5 } ]
        analysis = { interval = "30s", max_error_rate = 0.05, max_latency_ratio = 1.5, min_requests = 20 }

        [models.embed]
        enabled = false
        backends = [ { provider = "sim", model = "e" } ]

        [users.alice]
        name = "Alice \\"A\\""
        token = "sk-alice-secret-token"
        allowed_models = ["chat"]
        tags = ["team-a"]
        region = "eu"
        rate_limit = { requests_per_minute = 60, tokens_per_minute = 100000 }
        budget = { daily_usd = 2.5 }
        [users.bob]
        token = "sk-bob-secret-token"
        enabled = false
        """

    static let environment = ["OPENAI_API_KEY": "sk-from-env"]

    /// Applies a seed to a fresh repository and returns what is stored.
    private func stored(after seeds: [String]) async throws -> (InMemoryConfigurationRepository, ConfigurationSpec) {
        let repository = InMemoryConfigurationRepository()
        for seed in seeds {
            _ = try await repository.applySeed(try Seed(toml: seed, environment: Self.environment).configuration)
        }
        return (repository, try await repository.loadConfiguration())
    }

    @Test func theExportReadBackAsTheSeedChangesNothing() async throws {
        let (repository, before) = try await stored(after: [Self.seed])
        let export = SeedExport.text(before, header: "test")
        #expect(!export.contains("sk-alice-secret-token") && !export.contains("literal-azure-key"), "secrets never leave")
        #expect(export.contains("env:OPENAI_API_KEY"), "environment references are kept as written")
        let report = try await repository.applySeed(try Seed(toml: export, environment: Self.environment).configuration)
        #expect(report.created.isEmpty && report.updated.isEmpty && report.disabled.isEmpty, "\(report)")
        let after = try await repository.loadConfiguration()
        #expect(after == before)
        let alice = try #require(EffectiveConfiguration(after, environment: Self.environment).user(forToken: "sk-alice-secret-token"))
        #expect(alice.id == "alice", "the stored token survives the placeholder")
    }

    @Test func runTimeStateSurvivesTheRoundTrip() async throws {
        let repository = InMemoryConfigurationRepository()
        _ = try await repository.applySeed(try Seed(toml: Self.seed, environment: Self.environment).configuration)
        var model = try #require(try await repository.loadConfiguration().models.first { $0.name == "chat" })
        // A rollback leaves a previous default and a version order no seed can write.
        model = try model.rolledBack(to: "v2")
        repository.put([.model(model)])
        let before = try await repository.loadConfiguration()
        let reparsed = try Seed(toml: SeedExport.text(before, header: ""), environment: Self.environment).configuration
        let report = try await repository.applySeed(reparsed)
        #expect(report.updated.isEmpty, "\(report)")
        #expect(try await repository.loadConfiguration() == before)
    }

    @Test func aSeedNamingANewUserWithThePlaceholderCannotSignIn() throws {
        let text = """
            [providers.sim]
            format = "mock"
            [models.m]
            backends = [ { provider = "sim", model = "x" } ]
            [users.ghost]
            token = "<redacted>"
            [users.other]
            token = "<redacted>"
            """
        let configuration = try Seed(toml: text, environment: [:]).configuration
        #expect(EffectiveConfiguration(configuration, environment: [:]).user(forToken: "<redacted>") == nil)
    }

    @Test func apiBodiesUseTheSeedReaders() throws {
        let provider = try ObjectReader.provider(
            id: "p", body: ["format": "azure", "base_url": "https://x.openai.azure.com", "api_key": "env:K"], environment: ["K": "v"])
        #expect(provider.format == .azure && provider.apiKey == .environment("K"))
        #expect(throws: ConfigurationErrors.self) { try ObjectReader.provider(id: "p", body: ["format": "azure"], environment: [:]) }
        do {
            _ = try ObjectReader.provider(id: "p", body: ["format": "openai", "base_url": "https://x", "colour": "red"], environment: [:])
            Issue.record("an unknown key is refused")
        } catch {
            #expect(error.errors.map(\.key) == ["colour"])
        }

        let user = try ObjectReader.user(
            id: "u", body: ["rate_limit": .object(["requests_per_minute": 5]), "allowed_models": .array(["m"])], token: "sk-sy-generated",
            knownModels: ["m"])
        #expect(user.rateLimit?.requestsPerMinute == 5 && user.tokenDigest == TokenDigest(token: "sk-sy-generated"))
        do {
            _ = try ObjectReader.user(id: "u", body: ["allowed_models": .array(["nope"])], token: "sk-sy-generated", knownModels: ["m"])
            Issue.record("an unknown model is refused")
        } catch {
            #expect(error.errors.map(\.key) == ["allowed_models"])
        }
        let disabled = try ObjectReader.userUpdate(user, body: ["enabled": .bool(false), "rate_limit": .null], knownModels: ["m"])
        #expect(!disabled.enabled && disabled.rateLimit == nil && disabled.tokenDigest == user.tokenDigest && disabled.allowedModels == ["m"])

        let settings = try ObjectReader.settings(
            body: ["max_retries": 4, "smart_ai": .object(["exploration_ratio": .number(0.4)])], over: GatewaySettings())
        #expect(
            settings.maxRetries == 4 && settings.smartAI.explorationRatio == 0.4
                && settings.requestTimeoutSeconds == GatewaySettings().requestTimeoutSeconds)
        do {
            _ = try ObjectReader.settings(body: ["max_retries": 99], over: GatewaySettings())
            Issue.record("a value out of range is refused")
        } catch {
            #expect(error.errors.map(\.key) == ["max_retries"])
        }
    }
}
