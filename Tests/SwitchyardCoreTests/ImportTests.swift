import Testing

@testable import SwitchyardCore

@Suite struct ImportTests {
    /// Written following the configuration format in Berry API's public README (settings, users,
    /// providers with models lists, models with [[models.NAME.backends]]).
    static let berry = """
        [settings]
        health_check_interval_seconds = 30
        request_timeout_seconds = 30
        max_retries = 3
        max_internal_retries = 2
        circuit_breaker_failure_threshold = 5
        recovery_check_interval_seconds = 120

        [settings.smart_ai]
        initial_confidence = 0.8
        min_confidence = 0.05

        [users.admin]
        name = "Administrator"
        token = "admin-token-123456"
        allowed_models = []
        enabled = true

        [users.dev]
        name = "Developer"
        token = "dev-token-789012"
        allowed_models = ["gpt-4", "claude-fast"]
        tags = ["dev"]
        rate_limit = { requests_per_minute = 60, requests_per_day = 5000 }

        [providers.openai]
        name = "OpenAI"
        base_url = "https://api.openai.com/v1"
        api_key = "sk-your-openai-key-here"
        models = ["gpt-4", "gpt-3.5-turbo"]
        enabled = true
        timeout_seconds = 30
        max_retries = 3

        [providers.backup]
        name = "Backup"
        base_url = "https://backup.example/v1"
        api_key = "sk-backup"
        models = ["gpt-4"]
        billing_mode = "per_request"

        [models.gpt_4]
        name = "gpt-4"
        strategy = "weighted_failover"
        enabled = true

        [[models.gpt_4.backends]]
        provider = "openai"
        model = "gpt-4"
        weight = 0.7
        priority = 1
        enabled = true

        [[models.gpt_4.backends]]
        provider = "backup"
        model = "gpt-4"
        weight = 0.3
        priority = 2
        billing_mode = "per_request"

        [[models.gpt_4.backends]]
        provider = "openai"
        model = "gpt-4-old"
        enabled = false

        [models.legacy]
        name = "gpt-3.5"
        strategy = "psychic"

        [[models.legacy.backends]]
        provider = "openai"
        model = "gpt-3.5-turbo"
        """

    @Test func aBerryConfigurationBecomesAValidSeed() throws {
        let result = try BerryImporter.convert(Self.berry)
        let seed = try Seed(toml: result.seed, environment: [:])
        let configuration = seed.configuration
        #expect(configuration.providers.map(\.id) == ["backup", "openai"])
        let gpt4 = try #require(configuration.models.first { $0.name == "gpt-4" })
        #expect(gpt4.strategy == .weightedFailover)
        #expect(gpt4.versions[0].backends.map(\.model) == ["gpt-4", "gpt-4"])
        #expect(gpt4.versions[0].backends.map(\.weight) == [0.7, 0.3] && gpt4.versions[0].backends.map(\.priority) == [1, 2])
        #expect(configuration.models.first { $0.name == "gpt-3.5" }?.strategy == .weightedRandom)
        let dev = try #require(configuration.users.first { $0.id == "dev" })
        #expect(dev.allowedModels == ["gpt-4"] && dev.tags == ["dev"] && dev.rateLimit == RateLimitSpec(requestsPerMinute: 60))
        #expect(configuration.settings.maxRetries == 3 && configuration.settings.smartAI.minConfidence == 0.05)
        for note in [
            "settings.max_internal_retries", "settings.recovery_check_interval_seconds", "providers.openai.models", "providers.openai.max_retries",
            "providers.backup.billing_mode", "models.gpt_4.backends[1].billing_mode", "models.gpt_4.backends[2] (disabled: skipped)",
            "models.legacy.strategy = psychic (using weighted_random)", "users.dev.allowed_models: claude-fast (no such model)",
            "users.dev.rate_limit.requests_per_day",
        ] {
            #expect(result.unsupported.contains(note), "\(note)")
        }
    }

    @Test func brokenBerryFilesAreReportedWithTheirLine() {
        #expect(throws: ConfigurationError.self) { try BerryImporter.convert("[providers.x\nbase_url = 1") }
    }

    @Test func envProvidersBecomeASeedThatReferencesTheirKeys() throws {
        let environment = [
            "LLM_PROVIDERS": "OPENAI, LOCAL,broken",
            "LLM_PROVIDER_OPENAI_NAME": "OpenAI", "LLM_PROVIDER_OPENAI_BASE_URL": "https://api.openai.com/v1",
            "LLM_PROVIDER_OPENAI_API_KEY": "sk-secret", "LLM_PROVIDER_OPENAI_WEIGHT": "3", "LLM_PROVIDER_OPENAI_REGION": "us",
            "LLM_PROVIDER_OPENAI_COST_INPUT": "2.5", "LLM_PROVIDER_OPENAI_COST_OUTPUT": "10", "LLM_PROVIDER_OPENAI_MAX_QPS": "50",
            "LLM_PROVIDER_LOCAL_BASE_URL": "http://127.0.0.1:11434/v1", "LLM_PROVIDER_LOCAL_MODELS_PATH": "/models",
            "LLM_PROVIDER_broken_API_KEY": "x",
        ]
        let result = EnvImporter.convert(environment)
        #expect(!result.seed.contains("sk-secret"), "keys stay in the environment")
        let configuration = try Seed(toml: result.seed, environment: environment).configuration
        #expect(configuration.providers.map(\.id) == ["local", "openai"])
        let openai = try #require(configuration.providers.first { $0.id == "openai" })
        #expect(openai.apiKey == .environment("LLM_PROVIDER_OPENAI_API_KEY") && openai.region == "us")
        #expect(openai.costInputPerMillionTokens == 2.5 && openai.costOutputPerMillionTokens == 10)
        #expect(configuration.models.first?.versions.first?.backends.map(\.weight) == [3, 1])
        #expect(result.warnings.contains("provider broken: LLM_PROVIDER_broken_BASE_URL is missing; skipped"))
        #expect(result.warnings.contains { $0.contains("MAX_QPS") } && !result.warnings.contains { $0.contains("MODELS_PATH") })
        #expect(configuration.providers.first { $0.id == "local" }?.modelsPath == "/models", "discovery reads the same list path")
    }
}
