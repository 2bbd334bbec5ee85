/// The secrets a provider carries — its API key, its header values and a password in its base URL —
/// checked when read, and never shown: masked in the admin API, the export placeholder in exports
/// and audit rows, redacted from every error text.
extension ProviderSpec {
    /// The spec with every literal secret replaced by the export placeholder; `env:` references stay.
    package var redacted: ProviderSpec {
        var copy = self
        if case .literal? = apiKey { copy.apiKey = .literal(SeedExport.redacted) }
        copy.headers = headers.mapValues { if case .literal = $0 { .literal(SeedExport.redacted) } else { $0 } }
        copy.baseURL = baseURL.map(URLCredentials.redacted)
        return copy
    }

    /// The spec with each export placeholder (from `redacted`) taken back from the stored spec.
    package func keepingSecrets(of stored: ProviderSpec) -> ProviderSpec {
        var copy = self
        let placeholder = SecretReference.literal(SeedExport.redacted)
        if apiKey == placeholder { copy.apiKey = stored.apiKey }
        for (name, value) in headers where value == placeholder {
            copy.headers[name] = stored.headers[name]
        }
        // The stored URL's placeholder form (`user:<redacted>@`, or `<redacted>@` for user information without a password).
        if let baseURL, let storedURL = stored.baseURL, baseURL != storedURL, URLCredentials.redacted(storedURL) == baseURL {
            copy.baseURL = storedURL
        }
        return copy
    }

    /// Why the provider's secrets cannot be used, one problem per key (`api_key`, `headers.NAME`),
    /// naming the environment variable but never the value.
    func secretProblems(in environment: [String: String]) -> [(key: String, reason: String)] {
        var problems: [(key: String, reason: String)] = []
        if let problem = apiKey?.problem(in: environment) { problems.append(("api_key", problem)) }
        for (name, value) in headers.sorted(by: { $0.key < $1.key }) {
            if let problem = value.problem(in: environment) { problems.append(("headers.\(name)", problem)) }
        }
        return problems
    }
}

extension SecretReference {
    /// Why the secret cannot be sent in a header — an unset variable, a control character — naming
    /// the variable but never the value.
    package func problem(in environment: [String: String]) -> String? {
        switch self {
        case .literal(let value):
            guard Self.holdsControlCharacter(value) else { return nil }
            return "contains a control character or line break; write it as one line of printable characters"
        case .environment(let name):
            guard let value = environment[name] else { return "environment variable \(name) is not set" }
            guard Self.holdsControlCharacter(value) else { return nil }
            return "environment variable \(name) holds a control character or line break (a \\r from a file with "
                + "Windows line endings?); its value must be one line of printable characters"
        }
    }

    /// Whether the text holds a byte that cannot stand in an HTTP header value (controls but tab, and DEL).
    package static func holdsControlCharacter(_ text: String) -> Bool {
        text.utf8.contains { ($0 < 0x20 && $0 != 0x09) || $0 == 0x7F }
    }

    /// Whether `name` can name a header field: RFC 9110 field names are tokens.
    package static func isHeaderName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.allSatisfy(headerNameCharacters.contains)
    }

    package static func headerNameProblem(_ name: String) -> String {
        "\"\(name)\" is not a valid header name (letters, digits and !#$%&'*+-.^_`|~ only)"
    }

    private static let headerNameCharacters = Set("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".utf8)

    /// The value when it can be sent in a header: resolved, and free of control characters.
    package func resolvedHeaderValue(in environment: [String: String]) -> String? {
        guard let value = resolve(in: environment), !Self.holdsControlCharacter(value) else { return nil }
        return value
    }
}

/// The password of a URL's user information (`https://user:password@host/…`), found and hidden
/// without a URL parser: a base URL is checked to be `http(s)://…` before it gets here.
package enum URLCredentials {
    /// The URL with its password (or, without a colon, its whole user information) as the placeholder.
    package static func redacted(_ url: String) -> String {
        guard let userInfo = userInfoRange(in: url) else { return url }
        let info = url[userInfo]
        var result = url
        if let colon = info.firstIndex(of: ":") {
            result.replaceSubrange(url.index(after: colon)..<userInfo.upperBound, with: SeedExport.redacted)
        } else {
            result.replaceSubrange(userInfo, with: SeedExport.redacted)
        }
        return result
    }

    /// Whether `url` is `http://` or `https://` with a host, and holds no white space or control character.
    package static func isHTTPURL(_ url: String) -> Bool {
        guard let scheme = url.firstRange(of: "://"), url[..<scheme.lowerBound] == "http" || url[..<scheme.lowerBound] == "https" else {
            return false
        }
        let authority = url[scheme.upperBound...].prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        let host = authority.split(separator: "@", omittingEmptySubsequences: false).last ?? ""
        return !host.isEmpty && !url.unicodeScalars.contains { $0.properties.isWhitespace || $0.value < 0x20 || $0.value == 0x7F }
    }

    /// Whether the URL carries user information (`user@` or `user:password@`).
    package static func hasUserInfo(_ url: String) -> Bool {
        userInfoRange(in: url) != nil
    }

    /// The password in the URL's user information, if it has one.
    package static func password(in url: String) -> String? {
        guard let userInfo = userInfoRange(in: url), let colon = url[userInfo].firstIndex(of: ":") else { return nil }
        return String(url[url.index(after: colon)..<userInfo.upperBound])
    }

    /// The user information: between `://` and the last `@` before the path.
    private static func userInfoRange(in url: String) -> Range<String.Index>? {
        guard let scheme = url.firstRange(of: "://") else { return nil }
        let authorityEnd = url[scheme.upperBound...].firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? url.endIndex
        guard let at = url[scheme.upperBound..<authorityEnd].lastIndex(of: "@") else { return nil }
        return scheme.upperBound..<at
    }
}
