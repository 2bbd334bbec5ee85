/// Where and how the server listens: `[server]`. Read at start; not part of the reconciled configuration.
package struct ServerSpec: Sendable, Hashable {
    package static let defaultListen = "127.0.0.1:8080"
    package static let defaultDatabase = "switchyard.db"
    package static let defaultMaxBodyBytes = 10 * 1024 * 1024

    /// `HOST:PORT` to listen on.
    package var listen: String
    /// SQLite file (relative paths are relative to the seed file's directory), or a PostgreSQL URL
    /// `postgres://USER@HOST:PORT/DATABASE` shared by several instances.
    package var database: String
    /// The PostgreSQL password, literal or `env:NAME`; `nil`: the URL's, else `PGPASSWORD`.
    package var databasePassword: SecretReference?
    /// Token for the admin API; literal or `env:NAME`. `nil`: `SWITCHYARD_ADMIN_TOKEN`, else generated at first start.
    package var adminToken: SecretReference?
    /// Largest request body accepted, in bytes; larger bodies get 413.
    package var maxBodyBytes: Int
    /// Open client connections at most (further ones are accepted and closed at once); lowered to
    /// what the open-file limit allows.
    package var maxConnections = 10_000
    /// Connections under the cap kept for `/health`, `/ready`, `/metrics`, the admin API and page.
    package var reservedConnections = 32
    /// From a request's first byte to the end of its headers.
    package var headerTimeoutSeconds = 15.0
    /// How long an idle keep-alive client connection stays open.
    package var keepAliveTimeoutSeconds = 60.0
    /// From the end of a request's headers to the end of its body.
    package var bodyTimeoutSeconds = 60.0
    /// One upstream SSE event larger than this ends the stream with an error event.
    package var maxStreamEventBytes = 1 << 20
    /// Keep-alive connections to one upstream origin, per event loop (one loop per core).
    package var upstreamPoolSize = 1024

    package init(
        listen: String = Self.defaultListen, database: String = Self.defaultDatabase, adminToken: SecretReference? = nil,
        maxBodyBytes: Int = Self.defaultMaxBodyBytes
    ) {
        self.listen = listen
        self.database = database
        self.adminToken = adminToken
        self.maxBodyBytes = maxBodyBytes
    }

    static func read(from table: TableReader?, environment: [String: String]) -> ServerSpec {
        guard let table else { return ServerSpec() }
        var spec = ServerSpec(
            listen: table.string("listen") ?? Self.defaultListen,
            database: table.string("database") ?? Self.defaultDatabase,
            adminToken: table.string("admin_token").map(SecretReference.init(parsing:)),
            maxBodyBytes: table.integer("max_body_bytes", in: 1024...1_073_741_824) ?? Self.defaultMaxBodyBytes)
        spec.databasePassword = table.string("database_password").map(SecretReference.init(parsing:))
        if let problem = spec.databasePassword?.problem(in: environment) { table.fail("database_password", problem) }
        spec.maxConnections = table.integer("max_connections", in: 2...10_000_000) ?? spec.maxConnections
        spec.reservedConnections = table.integer("reserved_connections", in: 0...10_000) ?? spec.reservedConnections
        spec.headerTimeoutSeconds = table.number("header_timeout_seconds", in: 0.1...3600) ?? spec.headerTimeoutSeconds
        spec.keepAliveTimeoutSeconds = table.number("keepalive_timeout_seconds", in: 0.1...86_400) ?? spec.keepAliveTimeoutSeconds
        spec.bodyTimeoutSeconds = table.number("body_timeout_seconds", in: 0.1...3600) ?? spec.bodyTimeoutSeconds
        spec.maxStreamEventBytes = table.integer("max_stream_event_bytes", in: 1024...1_073_741_824) ?? spec.maxStreamEventBytes
        spec.upstreamPoolSize = table.integer("upstream_pool_size", in: 1...100_000) ?? spec.upstreamPoolSize
        if spec.reservedConnections >= spec.maxConnections {
            table.fail("reserved_connections", "must be below max_connections (\(spec.maxConnections))")
        }
        if (try? HostAndPort(parsing: spec.listen)) == nil {
            table.fail("listen", "expected HOST:PORT, got \"\(spec.listen)\"")
        }
        if let problem = spec.adminToken?.problem(in: environment) { table.fail("admin_token", problem) }
        table.rejectUnknownKeys()
        return spec
    }
}

/// A `HOST:PORT` listen address.
package struct HostAndPort: Sendable, Hashable {
    package var host: String
    package var port: Int

    package init(parsing text: String) throws(ConfigurationError) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65_535).contains(port)
        else {
            throw ConfigurationError(key: "listen", reason: "expected HOST:PORT, got \"\(text)\"")
        }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        self.host = host.isEmpty ? "0.0.0.0" : host
        self.port = port
    }
}

/// Gateway-wide behaviour: `[settings]`.
package struct GatewaySettings: Sendable, Hashable, Codable {
    /// Whole upstream request, from sending to the last byte, unless the provider sets `timeout_seconds`.
    package var requestTimeoutSeconds: Double
    /// Establishing a connection to an upstream.
    package var connectTimeoutSeconds: Double
    /// Until the upstream's response head; `nil` = the request timeout.
    package var firstByteTimeoutSeconds: Double?
    /// Longest silence between an upstream's chunks.
    package var idleTimeoutSeconds: Double
    /// Further backends tried after a failure, before the first byte reaches the client.
    package var maxRetries: Int
    /// Active health probes every this many seconds; 0 = passive health only.
    package var healthCheckIntervalSeconds: Double
    package var healthCheckTimeoutSeconds: Double
    package var circuitBreaker: CircuitBreakerPolicy
    /// How long a conversation stays bound to the version and backend that first served it.
    package var sessionTTLSeconds: Double
    package var smartAI: SmartAISettings
    /// A streaming request quiet this long (before the first byte or between chunks) gets `: keep-alive`.
    package var streamKeepAliveSeconds: Double = 15

    package init(
        requestTimeoutSeconds: Double = 30, connectTimeoutSeconds: Double = 5, firstByteTimeoutSeconds: Double? = nil,
        idleTimeoutSeconds: Double = 30, maxRetries: Int = 2, healthCheckIntervalSeconds: Double = 30,
        healthCheckTimeoutSeconds: Double = 5, circuitBreaker: CircuitBreakerPolicy = CircuitBreakerPolicy(),
        sessionTTLSeconds: Double = 3600, smartAI: SmartAISettings = SmartAISettings()
    ) {
        self.requestTimeoutSeconds = requestTimeoutSeconds
        self.connectTimeoutSeconds = connectTimeoutSeconds
        self.firstByteTimeoutSeconds = firstByteTimeoutSeconds
        self.idleTimeoutSeconds = idleTimeoutSeconds
        self.maxRetries = maxRetries
        self.healthCheckIntervalSeconds = healthCheckIntervalSeconds
        self.healthCheckTimeoutSeconds = healthCheckTimeoutSeconds
        self.circuitBreaker = circuitBreaker
        self.sessionTTLSeconds = sessionTTLSeconds
        self.smartAI = smartAI
    }

    /// Settings stored by an earlier version lack later keys: those take their defaults.
    package init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = GatewaySettings()
        self.init(
            requestTimeoutSeconds: try container.decodeIfPresent(Double.self, forKey: .requestTimeoutSeconds) ?? defaults.requestTimeoutSeconds,
            connectTimeoutSeconds: try container.decodeIfPresent(Double.self, forKey: .connectTimeoutSeconds) ?? defaults.connectTimeoutSeconds,
            firstByteTimeoutSeconds: try container.decodeIfPresent(Double.self, forKey: .firstByteTimeoutSeconds),
            idleTimeoutSeconds: try container.decodeIfPresent(Double.self, forKey: .idleTimeoutSeconds) ?? defaults.idleTimeoutSeconds,
            maxRetries: try container.decodeIfPresent(Int.self, forKey: .maxRetries) ?? defaults.maxRetries,
            healthCheckIntervalSeconds: try container.decodeIfPresent(Double.self, forKey: .healthCheckIntervalSeconds)
                ?? defaults.healthCheckIntervalSeconds,
            healthCheckTimeoutSeconds: try container.decodeIfPresent(Double.self, forKey: .healthCheckTimeoutSeconds)
                ?? defaults.healthCheckTimeoutSeconds,
            circuitBreaker: try container.decodeIfPresent(CircuitBreakerPolicy.self, forKey: .circuitBreaker) ?? defaults.circuitBreaker,
            sessionTTLSeconds: try container.decodeIfPresent(Double.self, forKey: .sessionTTLSeconds) ?? defaults.sessionTTLSeconds,
            smartAI: try container.decodeIfPresent(SmartAISettings.self, forKey: .smartAI) ?? defaults.smartAI)
        streamKeepAliveSeconds = try container.decodeIfPresent(Double.self, forKey: .streamKeepAliveSeconds) ?? defaults.streamKeepAliveSeconds
    }

    /// The deadline until an upstream's response head.
    package func firstByteTimeout(for provider: ProviderSpec) -> Double {
        let total = provider.timeoutSeconds ?? requestTimeoutSeconds
        return min(firstByteTimeoutSeconds ?? total, total)
    }

    static func read(from table: TableReader?) -> GatewaySettings {
        guard let table else { return GatewaySettings() }
        let defaults = GatewaySettings()
        var settings = GatewaySettings(
            requestTimeoutSeconds: table.number("request_timeout_seconds", in: 0.001...86_400) ?? defaults.requestTimeoutSeconds,
            connectTimeoutSeconds: table.number("connect_timeout_seconds", in: 0.001...600) ?? defaults.connectTimeoutSeconds,
            firstByteTimeoutSeconds: table.number("first_byte_timeout_seconds", in: 0.001...86_400),
            idleTimeoutSeconds: table.number("idle_timeout_seconds", in: 0.001...86_400) ?? defaults.idleTimeoutSeconds,
            maxRetries: table.integer("max_retries", in: 0...10) ?? defaults.maxRetries,
            healthCheckIntervalSeconds: table.number("health_check_interval_seconds", in: 0...86_400) ?? defaults.healthCheckIntervalSeconds,
            healthCheckTimeoutSeconds: table.number("health_check_timeout_seconds", in: 0.001...600) ?? defaults.healthCheckTimeoutSeconds,
            circuitBreaker: CircuitBreakerPolicy(
                failureThreshold: table.integer("circuit_breaker_failure_threshold", in: 1...10_000) ?? 5,
                errorRateThreshold: table.number("circuit_breaker_error_rate_threshold", in: 0.01...1) ?? 0.5,
                window: table.integer("circuit_breaker_window", in: 1...10_000) ?? 20,
                openSeconds: table.number("circuit_breaker_timeout_seconds", in: 0.001...86_400) ?? 60),
            sessionTTLSeconds: table.number("session_ttl_seconds", in: 1...31_536_000) ?? defaults.sessionTTLSeconds,
            smartAI: table.table("smart_ai").map { SmartAISettings.read(from: $0, defaults: SmartAISettings()) } ?? SmartAISettings())
        settings.streamKeepAliveSeconds = table.number("stream_keepalive_seconds", in: 0.1...3_600) ?? defaults.streamKeepAliveSeconds
        table.rejectUnknownKeys()
        return settings
    }
}

extension SmartAISettings {
    /// Reads a model's `smart_ai`: only how it selects (`exploration_ratio`, `confidence_threshold`);
    /// confidence itself belongs to the backend and follows `[settings.smart_ai]`.
    static func readSelection(from table: TableReader, defaults: SmartAISettings) -> SmartAISettings {
        var settings = defaults
        settings.explorationRatio = table.number("exploration_ratio", in: 0...1) ?? defaults.explorationRatio
        settings.confidenceThreshold = table.number("confidence_threshold", in: 0...1) ?? defaults.confidenceThreshold
        table.rejectUnknownKeys()
        return settings
    }

    /// Reads `[settings.smart_ai]` or a model's `smart_ai`, starting from `defaults`.
    static func read(from table: TableReader, defaults: SmartAISettings) -> SmartAISettings {
        let settings = SmartAISettings(
            initialConfidence: table.number("initial_confidence", in: 0...1) ?? defaults.initialConfidence,
            minConfidence: table.number("min_confidence", in: 0...1) ?? defaults.minConfidence,
            explorationRatio: table.number("exploration_ratio", in: 0...1) ?? defaults.explorationRatio,
            successReward: table.number("success_reward", in: 0...1) ?? defaults.successReward,
            failurePenalty: table.number("failure_penalty", in: 0...1) ?? defaults.failurePenalty,
            decayHalfLifeSeconds: table.number("decay_half_life_seconds", in: 0...31_536_000) ?? defaults.decayHalfLifeSeconds,
            confidenceThreshold: table.number("confidence_threshold", in: 0...1) ?? defaults.confidenceThreshold)
        table.rejectUnknownKeys()
        return settings
    }
}
