import Foundation
import NIOSSL
import PostgresNIO

/// A PostgreSQL database named by a URL: `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=disable|prefer|require]`.
/// A password not in the URL comes from the caller (`[server] database_password`, an `env:` reference)
/// or from `PGPASSWORD`, as libpq does.
package struct PostgresLocation: Sendable, CustomStringConvertible {
    package var host: String
    package var port: Int
    package var user: String
    package var password: String?
    package var database: String
    package var sslMode: SSLMode

    package enum SSLMode: String, Sendable {
        case disable, prefer, require
    }

    /// Whether `text` names a PostgreSQL database rather than a SQLite file.
    package static func isURL(_ text: String) -> Bool {
        text.hasPrefix("postgres://") || text.hasPrefix("postgresql://")
    }

    /// Reads `url`; `password` (else `PGPASSWORD` in `environment`) when the URL carries none.
    package init(url: String, password: String? = nil, environment: [String: String] = [:]) throws(PostgresURLError) {
        guard Self.isURL(url), let components = URLComponents(string: url) else {
            throw PostgresURLError(reason: "expected postgres://USER@HOST[:PORT]/DATABASE")
        }
        guard let host = components.host, !host.isEmpty else { throw PostgresURLError(reason: "the URL names no host") }
        let database = String(components.path.drop { $0 == "/" })
        guard !database.isEmpty, !database.contains("/") else { throw PostgresURLError(reason: "the URL names no database (…/DATABASE)") }
        guard let user = components.user, !user.isEmpty else { throw PostgresURLError(reason: "the URL names no user (USER@HOST)") }
        self.host = host
        port = components.port ?? 5432
        self.user = user.removingPercentEncoding ?? user
        self.database = database
        self.password = components.password.map { $0.removingPercentEncoding ?? $0 } ?? password ?? environment["PGPASSWORD"]
        sslMode = .prefer
        for item in components.queryItems ?? [] {
            switch item.name {
            case "sslmode":
                guard let mode = item.value.flatMap(SSLMode.init(rawValue:)) else {
                    throw PostgresURLError(reason: "sslmode is disable, prefer or require")
                }
                sslMode = mode
            default:
                throw PostgresURLError(reason: "unknown URL parameter '\(item.name)' (only sslmode is read)")
            }
        }
    }

    /// The URL without its password: what logs and messages show.
    package var redacted: String {
        "postgres://\(user)@\(host):\(port)/\(database)"
    }

    package var description: String { redacted }

    var clientConfiguration: PostgresClient.Configuration {
        let tls: PostgresClient.Configuration.TLS
        switch sslMode {
        case .disable: tls = .disable
        case .prefer: tls = .prefer(.makeClientConfiguration())
        case .require: tls = .require(.makeClientConfiguration())
        }
        var configuration = PostgresClient.Configuration(host: host, port: port, username: user, password: password, database: database, tls: tls)
        configuration.options.connectTimeout = .seconds(5)
        return configuration
    }

    /// For a connection of its own, outside the pool (listening, holding the controller lock).
    func connectionConfiguration() throws -> PostgresConnection.Configuration {
        let tls: PostgresConnection.Configuration.TLS
        switch sslMode {
        case .disable: tls = .disable
        case .prefer: tls = .prefer(try NIOSSLContext(configuration: .makeClientConfiguration()))
        case .require: tls = .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
        }
        var configuration = PostgresConnection.Configuration(
            host: host, port: port, username: user, password: password, database: database, tls: tls)
        configuration.options.connectTimeout = .seconds(5)
        return configuration
    }
}

package struct PostgresURLError: Error, CustomStringConvertible {
    package var reason: String
    package var description: String { "database URL: \(reason)" }
}
