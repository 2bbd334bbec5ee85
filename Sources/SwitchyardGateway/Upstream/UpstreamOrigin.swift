import Foundation

/// Where an upstream listens, read once from a provider's base URL: the key of a connection pool.
package struct UpstreamOrigin: Hashable, Sendable {
    package var host: String
    package var port: Int
    package var usesTLS: Bool
    /// The base URL's path without its trailing slash (`/v1`), prefixed to every request path.
    package var basePath: String
    /// The `Host` header: the host, and the port when it is not the scheme's default.
    package var hostHeader: String
    /// `Basic …` from credentials in the URL (`https://user:password@host`), sent when the provider
    /// sends no `authorization` of its own.
    package var basicAuthorization: String?

    /// `http://[user:password@]host[:port][/path]` or `https://…`; `nil` for anything else.
    package init?(baseURL: String) {
        let usesTLS: Bool
        var rest: Substring
        if baseURL.hasPrefix("https://") {
            usesTLS = true
            rest = baseURL.dropFirst(8)
        } else if baseURL.hasPrefix("http://") {
            usesTLS = false
            rest = baseURL.dropFirst(7)
        } else {
            return nil
        }
        var authority = rest.prefix { $0 != "/" && $0 != "?" }
        rest = rest.dropFirst(authority.count)
        if let at = authority.lastIndex(of: "@") {
            let userInfo = String(authority[..<at])
            let decoded = userInfo.removingPercentEncoding ?? userInfo
            basicAuthorization = "Basic " + Data(decoded.utf8).base64EncodedString()
            authority = authority[authority.index(after: at)...]
        }
        guard !authority.isEmpty else { return nil }
        var host = authority
        var port = usesTLS ? 443 : 80
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return nil }
            host = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if after.hasPrefix(":") {
                guard let value = Int(after.dropFirst()), (1...65535).contains(value) else { return nil }
                port = value
            } else if !after.isEmpty {
                return nil
            }
        } else if let colon = authority.lastIndex(of: ":") {
            guard let value = Int(authority[authority.index(after: colon)...]), (1...65535).contains(value) else { return nil }
            host = authority[..<colon]
            port = value
        }
        guard !host.isEmpty else { return nil }
        var path = String(rest.prefix { $0 != "?" && $0 != "#" })
        while path.hasSuffix("/") { path.removeLast() }
        self.host = String(host)
        self.port = port
        self.usesTLS = usesTLS
        self.basePath = path
        let defaultPort = usesTLS ? 443 : 80
        let hostText = authority.hasPrefix("[") ? "[\(host)]" : String(host)
        self.hostHeader = port == defaultPort ? hostText : "\(hostText):\(port)"
    }
}
