/// The wire format an upstream speaks.
package enum ProviderFormat: String, Sendable, Hashable, Codable, CaseIterable {
    /// Any OpenAI-compatible server: OpenAI itself, vLLM, DeepSeek, LiteLLM, …
    case openai
    /// Switchyard's built-in simulated upstream: answers offline, for demos and tests.
    case mock
    /// Azure OpenAI: deployments under a resource endpoint, `api-key` header, `api-version` query.
    case azure
    /// Anthropic's Messages API, translated to and from OpenAI's chat completions.
    case anthropic
    /// Ollama's OpenAI-compatible endpoint at `{base_url}/v1`; no key needed.
    case ollama

    /// The base URL used when `base_url` is absent; `nil` where one is required.
    package var defaultBaseURL: String? {
        switch self {
        case .anthropic: return "https://api.anthropic.com/v1"
        case .ollama: return "http://127.0.0.1:11434"
        case .openai, .azure, .mock: return nil
        }
    }

    /// The API version sent when `api_version` is absent: Azure's `api-version` query, Anthropic's `anthropic-version` header.
    package var defaultAPIVersion: String? {
        switch self {
        case .azure: return "2024-10-21"
        case .anthropic: return AnthropicTranslation.apiVersion
        case .openai, .mock, .ollama: return nil
        }
    }
}

/// The wire format the `mock` provider answers in.
package enum MockWireFormat: String, Sendable, Hashable, Codable, CaseIterable {
    case openai, anthropic
}

/// How a provider's health is checked actively, besides every request's outcome.
package enum HealthCheckMode: String, Sendable, Hashable, Codable, CaseIterable {
    /// `GET {base_url}/models`: free, for providers billed per request or not at all.
    case models
    /// A one-token chat completion to `health_check_model`: for providers that bill per token and lack a model list.
    case chat
    case none
}

/// An upstream account as configured: where it is, how to authenticate, what it costs.
package struct ProviderSpec: Sendable, Hashable, Codable {
    package var id: String
    package var format: ProviderFormat
    /// Base URL including the API prefix, e.g. `https://api.openai.com/v1`. Not used by `mock`.
    package var baseURL: String?
    package var apiKey: SecretReference?
    /// Extra headers sent with every upstream request; a value may be an `env:` reference.
    package var headers: [String: SecretReference]
    package var region: String?
    /// Upstream request timeout; `nil` uses `settings.request_timeout_seconds`.
    package var timeoutSeconds: Double?
    /// USD per million input (prompt) tokens.
    package var costInputPerMillionTokens: Double
    /// USD per million output (completion) tokens.
    package var costOutputPerMillionTokens: Double
    /// USD per million input tokens read from the prompt cache; `nil` prices them as plain input.
    package var costCachedInputPerMillionTokens: Double?
    /// USD per million input tokens written to the prompt cache; `nil` prices them as plain input.
    package var costCacheWritePerMillionTokens: Double?
    package var healthCheck: HealthCheckMode
    /// Model for `health_check = "chat"`.
    package var healthCheckModel: String?
    package var enabled: Bool
    /// Azure's `api-version` or Anthropic's `anthropic-version`; `nil` takes the format's default.
    package var apiVersion: String?
    /// Where the model list is, relative to the base URL; `nil` takes the format's own list endpoint.
    package var modelsPath: String?
    /// For `mock`: the vendor format it answers in.
    package var speaks: MockWireFormat = .openai
    /// Whether the provider serves OpenAI's Responses API (`/responses`); `nil` takes the format's
    /// default (`openai` and `azure` do). Otherwise `/v1/responses` requests are translated to chat.
    package var responses: Bool?

    /// Whether `/v1/responses` requests are passed through to this provider as they are (and the
    /// responses it stores can be read back and continued there). Never the mock or Anthropic.
    package var speaksResponses: Bool {
        format != .mock && format != .anthropic && (responses ?? (format == .openai || format == .azure))
    }

    /// The base URL in effect: the configured one, else the format's default.
    package var effectiveBaseURL: String? { baseURL ?? format.defaultBaseURL }
    package var effectiveAPIVersion: String? { apiVersion ?? format.defaultAPIVersion }

    package init(
        id: String, format: ProviderFormat, baseURL: String? = nil, apiKey: SecretReference? = nil,
        headers: [String: SecretReference] = [:], region: String? = nil, timeoutSeconds: Double? = nil,
        costInputPerMillionTokens: Double = 0, costOutputPerMillionTokens: Double = 0, healthCheck: HealthCheckMode? = nil,
        healthCheckModel: String? = nil, enabled: Bool = true, apiVersion: String? = nil, modelsPath: String? = nil,
        speaks: MockWireFormat = .openai, responses: Bool? = nil, costCachedInputPerMillionTokens: Double? = nil,
        costCacheWritePerMillionTokens: Double? = nil
    ) {
        self.id = id
        self.format = format
        self.baseURL = baseURL
        self.apiKey = apiKey
        self.headers = headers
        self.region = region
        self.timeoutSeconds = timeoutSeconds
        self.costInputPerMillionTokens = costInputPerMillionTokens
        self.costOutputPerMillionTokens = costOutputPerMillionTokens
        self.healthCheck = healthCheck ?? (format == .mock ? .none : .models)
        self.healthCheckModel = healthCheckModel
        self.enabled = enabled
        self.apiVersion = apiVersion
        self.modelsPath = modelsPath
        self.speaks = speaks
        self.responses = responses
        self.costCachedInputPerMillionTokens = costCachedInputPerMillionTokens
        self.costCacheWritePerMillionTokens = costCacheWritePerMillionTokens
    }

    /// Reads `[providers.ID]`.
    static func read(id: String, from table: TableReader, environment: [String: String]) -> ProviderSpec? {
        let errorCount = table.errors.errors.count
        let formatName = table.requiredString("format")
        let format = formatName.flatMap(ProviderFormat.init(rawValue:))
        if let formatName, format == nil {
            let known = ProviderFormat.allCases.map(\.rawValue).joined(separator: ", ")
            table.fail("format", "unknown format \"\(formatName)\" (supported: \(known))")
        }
        let baseURL = table.string("base_url")
        let apiKey = table.string("api_key").map(SecretReference.init(parsing:))
        let headers = (table.stringTable("headers") ?? [:]).mapValues(SecretReference.init(parsing:))
        for name in headers.keys.sorted() {
            // Values are checked with the other secrets below.
            if !SecretReference.isHeaderName(name) {
                table.fail("headers", SecretReference.headerNameProblem(name))
            }
        }
        let region = table.string("region")
        let timeout = table.number("timeout_seconds", in: 0.001...86_400)
        let costIn = table.number("cost_input_per_mtok", in: 0...1_000_000) ?? 0
        let costOut = table.number("cost_output_per_mtok", in: 0...1_000_000) ?? 0
        let costCached = table.number("cost_cached_input_per_mtok", in: 0...1_000_000)
        let costCacheWrite = table.number("cost_cache_write_per_mtok", in: 0...1_000_000)
        var healthCheck: HealthCheckMode?
        if let name = table.string("health_check") {
            healthCheck = HealthCheckMode(rawValue: name)
            if healthCheck == nil {
                table.fail("health_check", "unknown value \"\(name)\" (supported: models, chat, none)")
            }
        }
        let healthCheckModel = table.string("health_check_model")
        if healthCheck == .chat && healthCheckModel == nil {
            table.fail("health_check_model", "is required with health_check = \"chat\"")
        }
        if healthCheck == .chat, format == .azure || format == .anthropic {
            table.fail("health_check", "\"chat\" checks are for the openai and ollama formats; use \"models\"")
        }
        let enabled = table.bool("enabled") ?? true
        let apiVersion = table.string("api_version")
        // Sent as a header (`anthropic-version`) or in the query: one line of printable characters.
        if let apiVersion, let problem = ObjectName.problem(apiVersion) { table.fail("api_version", problem) }
        let modelsPath = table.string("models_path")
        if let modelsPath, !modelsPath.hasPrefix("/") { table.fail("models_path", "must start with \"/\", got \"\(modelsPath)\"") }
        var speaks = MockWireFormat.openai
        if let name = table.string("speaks") {
            if let parsed = MockWireFormat(rawValue: name), format == .mock {
                speaks = parsed
            } else if format != .mock {
                table.fail("speaks", "only the mock provider takes \"speaks\"")
            } else {
                table.fail("speaks", "unknown format \"\(name)\" (supported: openai, anthropic)")
            }
        }
        let responses = table.bool("responses")
        if responses == true, format == .anthropic || format == .mock {
            table.fail("responses", "the \(format?.rawValue ?? "") format has no Responses API; /v1/responses requests to it are translated")
        }
        table.rejectUnknownKeys()

        if let format, format != .mock {
            if let baseURL {
                if !URLCredentials.isHTTPURL(baseURL) {
                    table.fail("base_url", "must be an http:// or https:// URL, got \"\(URLCredentials.redacted(baseURL))\"")
                }
            } else if format.defaultBaseURL == nil {
                table.fail("base_url", "is required for format \"\(format.rawValue)\"")
            }
        }
        let secrets = ProviderSpec(id: id, format: format ?? .openai, apiKey: apiKey, headers: headers)
        for problem in secrets.secretProblems(in: environment) { table.fail(problem.key, problem.reason) }
        guard let format, table.errors.errors.count == errorCount else { return nil }
        return ProviderSpec(
            id: id, format: format, baseURL: baseURL.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 },
            apiKey: apiKey, headers: headers, region: region, timeoutSeconds: timeout,
            costInputPerMillionTokens: costIn, costOutputPerMillionTokens: costOut, healthCheck: healthCheck,
            healthCheckModel: healthCheckModel, enabled: enabled, apiVersion: apiVersion, modelsPath: modelsPath, speaks: speaks,
            responses: responses, costCachedInputPerMillionTokens: costCached, costCacheWritePerMillionTokens: costCacheWrite)
    }
}
