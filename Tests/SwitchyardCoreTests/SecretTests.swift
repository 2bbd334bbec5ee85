import Foundation
import Testing

@testable import SwitchyardCore

/// A provider's secrets — key, header values, URL password — are checked when read and never shown.
@Suite struct SecretTests {
    static let key = "sk-live-0123456789abcdef"
    static let headerSecret = "hdr-second-key-5566"
    static let urlPassword = "url-pass-7788"

    static func seed(apiKey: String = "env:UPSTREAM_KEY", headerValue: String = "env:SECOND_KEY") -> String {
        """
        [providers.up]
        format = "openai"
        base_url = "https://robot:\(urlPassword)@llm.example.test/v1"
        api_key = "\(apiKey)"
        headers = { "X-Second-Key" = "\(headerValue)", "X-Plain" = "\(headerSecret)" }

        [models.chat]
        backends = [ { provider = "up", model = "m" } ]
        """
    }

    static let environment = ["UPSTREAM_KEY": key, "SECOND_KEY": "second-\(key)"]

    func errors(_ text: String, environment: [String: String]) -> [ConfigurationError] {
        do {
            _ = try Seed(toml: text, environment: environment)
            return []
        } catch {
            return error.errors
        }
    }

    @Test func aKeyFromACRLFFileIsRefusedByNameWithoutItsValue() {
        let problems = errors(Self.seed(), environment: ["UPSTREAM_KEY": Self.key + "\r", "SECOND_KEY": "ok"])
        #expect(problems.map(\.key) == ["providers.up.api_key"])
        let message = problems.map { "\($0)" }.joined()
        #expect(message.contains("UPSTREAM_KEY") && message.contains("control character"))
        #expect(!message.contains(Self.key))

        let header = errors(Self.seed(), environment: ["UPSTREAM_KEY": Self.key, "SECOND_KEY": "a\nb"])
        #expect(header.map(\.key) == ["providers.up.headers.X-Second-Key"])
        let literal = errors(Self.seed(apiKey: "abc\\r\\nX-Inj: 1"), environment: Self.environment)
        #expect(literal.map(\.key) == ["providers.up.api_key"])
        #expect(!literal.map { "\($0)" }.joined().contains("X-Inj"))
        #expect(errors(Self.seed(), environment: ["UPSTREAM_KEY": Self.key]).map(\.key) == ["providers.up.headers.X-Second-Key"])
    }

    @Test func headerValuesTakeEnvironmentReferences() throws {
        let spec = try Seed(toml: Self.seed(), environment: Self.environment).configuration.providers[0]
        #expect(spec.headers["X-Second-Key"] == .environment("SECOND_KEY"))
        let provider = EffectiveConfiguration.Provider(spec: spec, environment: Self.environment)
        #expect(provider.apiKey == Self.key)
        #expect(provider.headers.map(\.name) == ["X-Plain", "X-Second-Key"])
        #expect(provider.headers.map(\.value) == [Self.headerSecret, "second-\(Self.key)"])
    }

    @Test func exportsAndAuditRowsCarryThePlaceholderAndASeedWithItKeepsTheSecrets() throws {
        let literalSeed = Self.seed(apiKey: Self.key, headerValue: "second-\(Self.key)")
        let spec = try Seed(toml: literalSeed, environment: [:]).configuration.providers[0]
        let exported = SeedExport.text(ConfigurationSpec(providers: [spec]), header: "")
        let audit = ConfigurationObject.provider(spec).auditJSON
        for text in [exported, audit] {
            for secret in [Self.key, Self.headerSecret, Self.urlPassword] { #expect(!text.contains(secret), "\(secret) in \(text)") }
            #expect(text.contains(SeedExport.redacted))
        }
        #expect(exported.contains("https://robot:<redacted>@llm.example.test/v1"))

        // Applying the export again changes nothing: each placeholder stands for the stored secret.
        let reread = try Seed(toml: exported, environment: [:]).configuration.providers[0]
        #expect(reread.keepingSecrets(of: spec) == spec)
    }

    @Test func urlCredentialsAreFoundAndHidden() {
        #expect(URLCredentials.redacted("https://u:p@h/v1") == "https://u:<redacted>@h/v1")
        #expect(URLCredentials.redacted("https://token@h:8443/v1?a=b@c") == "https://<redacted>@h:8443/v1?a=b@c")
        #expect(URLCredentials.redacted("https://h/v1/x@y") == "https://h/v1/x@y", "an @ in the path is not user information")
        #expect(URLCredentials.password(in: "http://u:p:q@h") == "p:q")
        #expect(URLCredentials.password(in: "http://h") == nil)
        // User information without a password is hidden whole, and taken back whole (found by SeedFuzzTests).
        let stored = ProviderSpec(id: "p", format: .openai, baseURL: "https://robotw@h/v1")
        let exported = ProviderSpec(id: "p", format: .openai, baseURL: URLCredentials.redacted("https://robotw@h/v1"))
        #expect(exported.baseURL == "https://<redacted>@h/v1")
        #expect(exported.keepingSecrets(of: stored).baseURL == "https://robotw@h/v1")
    }

    @Test func errorTextsLoseEverySecretOfTheProvider() throws {
        let spec = try Seed(toml: Self.seed(), environment: Self.environment).configuration.providers[0]
        let provider = EffectiveConfiguration.Provider(spec: spec, environment: Self.environment)
        let text =
            #"invalidHeaderFieldValues(["Bearer \#(Self.key)", "second-\#(Self.key)", "\#(Self.headerSecret)"]) at robot:\#(Self.urlPassword)@"#
        let redacted = provider.redacting(text)
        for secret in [Self.key, Self.headerSecret, Self.urlPassword] { #expect(!redacted.contains(secret)) }
        #expect(redacted.contains("Bearer <redacted>"))
    }
}
