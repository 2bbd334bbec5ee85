/// Where and how the server listens: `[server]`. Read at start; not part of the reconciled configuration.
package struct ServerSpec: Sendable, Hashable {
    package static let defaultListen = "127.0.0.1:8080"
    package static let defaultDatabase = "switchyard.db"
    package static let defaultMaxBodyBytes = 10 * 1024 * 1024

    /// `HOST:PORT` to listen on.
    package var listen: String
    /// SQLite file; relative paths are relative to the seed file's directory.
    package var database: String
    /// Token for the admin API; literal or `env:NAME`. `nil`: `SWITCHYARD_ADMIN_TOKEN`, else generated at first start.
    package var adminToken: SecretReference?
    /// Largest request body accepted, in bytes; larger bodies get 413.
    package var maxBodyBytes: Int

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
        let spec = ServerSpec(
            listen: table.string("listen") ?? Self.defaultListen,
            database: table.string("database") ?? Self.defaultDatabase,
            adminToken: table.string("admin_token").map(SecretReference.init(parsing:)),
            maxBodyBytes: table.integer("max_body_bytes", in: 1024...1_073_741_824) ?? Self.defaultMaxBodyBytes)
        if (try? HostAndPort(parsing: spec.listen)) == nil {
            table.fail("listen", "expected HOST:PORT, got \"\(spec.listen)\"")
        }
        if case .environment(let name)? = spec.adminToken, environment[name] == nil {
            table.fail("admin_token", "environment variable \(name) is not set")
        }
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

    package init(requestTimeoutSeconds: Double = 30, connectTimeoutSeconds: Double = 5) {
        self.requestTimeoutSeconds = requestTimeoutSeconds
        self.connectTimeoutSeconds = connectTimeoutSeconds
    }

    static func read(from table: TableReader?) -> GatewaySettings {
        guard let table else { return GatewaySettings() }
        let settings = GatewaySettings(
            requestTimeoutSeconds: table.number("request_timeout_seconds", in: 0.001...86_400) ?? 30,
            connectTimeoutSeconds: table.number("connect_timeout_seconds", in: 0.001...600) ?? 5)
        table.rejectUnknownKeys()
        return settings
    }
}
