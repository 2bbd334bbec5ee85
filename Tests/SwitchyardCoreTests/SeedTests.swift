import Foundation
import Testing

@testable import SwitchyardCore

@Suite struct SeedTests {
    static let minimal = """
        [providers.demo]
        format = "mock"

        [models.chat]
        backends = [ { provider = "demo", model = "echo" } ]

        [users.alice]
        token = "sk-alice-token"
        """

    func errors(of text: String, environment: [String: String] = [:]) -> [ConfigurationError] {
        do {
            _ = try Seed(toml: text, environment: environment)
            return []
        } catch {
            return error.errors
        }
    }

    func keys(of text: String) -> [String] {
        errors(of: text).map(\.key)
    }

    @Test func backendsShorthandMeansOneDefaultVersionAtFullWeight() throws {
        let seed = try Seed(toml: Self.minimal, environment: [:])
        let model = try #require(seed.configuration.models.first)
        #expect(model.versions.count == 1)
        #expect(model.versions[0].name == "v1")
        #expect(model.versions[0].weightBasisPoints == 10_000)
        #expect(model.versions[0].isDefault)
        #expect(seed.userTokens["alice"] == "sk-alice-token")
        #expect(seed.configuration.users[0].tokenDigest == TokenDigest(token: "sk-alice-token"))
    }

    @Test func theExampleSeedIsValid() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Sources/SwitchyardServer/Resources/switchyard.example.toml")
        let seed = try Seed(toml: String(contentsOf: url, encoding: .utf8), environment: [:])
        let chat = try #require(seed.configuration.models.first { $0.name == "chat" })
        #expect(chat.versions.map(\.weightBasisPoints) == [9_000, 1_000])
    }

    @Test func versionWeightsAcceptTwoDecimalsAndIntegers() throws {
        let seed = try Seed(
            toml: """
                [providers.demo]
                format = "mock"
                [models.chat.versions.stable]
                weight = 99.95
                default = true
                backends = [ { provider = "demo", model = "a" } ]
                [models.chat.versions.canary]
                weight = 0.05
                backends = [ { provider = "demo", model = "b" } ]
                """, environment: [:])
        #expect(seed.configuration.models[0].versions.map(\.weightBasisPoints) == [9_995, 5])
        #expect(seed.configuration.models[0].versions.map(\.name) == ["stable", "canary"])
    }

    @Test func weightsThatDoNotSumToHundredNameTheSum() {
        let found = errors(
            of: """
                [providers.demo]
                format = "mock"
                [models.chat.versions.v1]
                weight = 90
                default = true
                backends = [ { provider = "demo", model = "a" } ]
                [models.chat.versions.v2]
                weight = 5.5
                backends = [ { provider = "demo", model = "b" } ]
                """)
        #expect(found.map(\.key) == ["models.chat.versions"])
        #expect(found.first?.reason.contains("got 95.5") == true)
    }

    @Test func moreThanTwoDecimalsIsRejected() {
        #expect(
            keys(
                of: """
                    [providers.demo]
                    format = "mock"
                    [models.chat.versions.v1]
                    weight = 33.333
                    default = true
                    backends = [ { provider = "demo", model = "a" } ]
                    """
            ).contains("models.chat.versions.v1.weight"))
    }

    @Test func exactlyOneDefaultVersionIsRequired() {
        let found = errors(
            of: """
                [providers.demo]
                format = "mock"
                [models.chat.versions.v1]
                weight = 50
                backends = [ { provider = "demo", model = "a" } ]
                [models.chat.versions.v2]
                weight = 50
                backends = [ { provider = "demo", model = "b" } ]
                """)
        #expect(found.contains { $0.key == "models.chat.versions" && $0.reason.contains("default") })
    }

    @Test func unknownKeysAreErrorsNamingTheirPath() {
        #expect(keys(of: Self.minimal + "\nallowed_model = [\"chat\"]\n") == ["users.alice.allowed_model"])
        #expect(keys(of: "[settings]\nrequest_timeout = 5\n" + Self.minimal) == ["settings.request_timeout"])
        #expect(keys(of: "[unknown]\n" + Self.minimal) == ["unknown"])
    }

    @Test func integersAreAcceptedWhereNumbersAreExpected() throws {
        let seed = try Seed(toml: "[settings]\nrequest_timeout_seconds = 120\n" + Self.minimal, environment: [:])
        #expect(seed.configuration.settings.requestTimeoutSeconds == 120)
    }

    @Test func wrongTypesNameTheKeyAndTheType() {
        let found = errors(of: "[settings]\nrequest_timeout_seconds = \"30\"\n" + Self.minimal)
        #expect(found == [ConfigurationError(key: "settings.request_timeout_seconds", reason: "expected a number, got a string")])
    }

    @Test func syntaxErrorsCarryTheLine() {
        let found = errors(of: "[providers.demo]\nformat = \"mock\"\nbroken = \n")
        #expect(found.count == 1)
        #expect(found.first?.line == 3)
    }

    @Test func referencesToUnknownProvidersAndModelsAreErrors() {
        #expect(
            keys(of: Self.minimal.replacingOccurrences(of: "provider = \"demo\"", with: "provider = \"nope\"")) == [
                "models.chat.backends[0].provider"
            ])
        #expect(keys(of: Self.minimal + "\nallowed_models = [\"missing\"]\n") == ["users.alice.allowed_models"])
    }

    @Test func unknownFormatListsTheSupportedOnes() {
        let found = errors(of: Self.minimal.replacingOccurrences(of: "format = \"mock\"", with: "format = \"carrier-pigeon\""))
        #expect(found.map(\.key) == ["providers.demo.format"])
        #expect(found.first?.reason.contains("openai, mock, azure, anthropic, ollama") == true)
    }

    @Test func openAIProvidersNeedAnHTTPBaseURL() {
        let text = Self.minimal.replacingOccurrences(of: "format = \"mock\"", with: "format = \"openai\"\nbase_url = \"ftp://x\"")
        #expect(keys(of: text) == ["providers.demo.base_url"])
    }

    @Test func vendorFormatsTakeTheirDefaultsAndOwnKeys() throws {
        func provider(_ lines: String) -> String {
            Self.minimal.replacingOccurrences(of: "format = \"mock\"", with: lines)
        }
        let anthropic = try Seed(toml: provider("format = \"anthropic\"\napi_version = \"2023-06-01\""), environment: [:]).configuration
        #expect(anthropic.providers[0].effectiveBaseURL == "https://api.anthropic.com/v1")
        #expect(anthropic.providers[0].effectiveAPIVersion == "2023-06-01" && anthropic.providers[0].healthCheck == .models)
        let ollama = try Seed(toml: provider("format = \"ollama\"\nmodels_path = \"/api/tags\""), environment: [:]).configuration
        #expect(ollama.providers[0].effectiveBaseURL == "http://127.0.0.1:11434" && ollama.providers[0].modelsPath == "/api/tags")
        let azure = try Seed(toml: provider("format = \"azure\"\nbase_url = \"https://r.openai.azure.com/\""), environment: [:]).configuration
        #expect(azure.providers[0].effectiveBaseURL == "https://r.openai.azure.com" && azure.providers[0].effectiveAPIVersion == "2024-10-21")
        let speaking = try Seed(toml: provider("format = \"mock\"\nspeaks = \"anthropic\""), environment: [:]).configuration
        #expect(speaking.providers[0].speaks == .anthropic)
        #expect(azure.providers[0].speaksResponses && !anthropic.providers[0].speaksResponses && !ollama.providers[0].speaksResponses)
        let vllm = try Seed(toml: provider("format = \"openai\"\nbase_url = \"https://x.test/v1\"\nresponses = false"), environment: [:])
        #expect(vllm.configuration.providers[0].responses == false && !vllm.configuration.providers[0].speaksResponses)
        let newOllama = try Seed(toml: provider("format = \"ollama\"\nresponses = true"), environment: [:]).configuration
        #expect(newOllama.providers[0].speaksResponses)
        #expect(keys(of: provider("format = \"anthropic\"\nresponses = true")) == ["providers.demo.responses"])
        #expect(keys(of: provider("format = \"mock\"\nresponses = true")) == ["providers.demo.responses"])

        #expect(keys(of: provider("format = \"azure\"")) == ["providers.demo.base_url"], "Azure has no default endpoint")
        #expect(keys(of: provider("format = \"openai\"\nbase_url = \"https://x.test/v1\"\nspeaks = \"anthropic\"")) == ["providers.demo.speaks"])
        #expect(keys(of: provider("format = \"mock\"\nspeaks = \"klingon\"")) == ["providers.demo.speaks"])
        #expect(keys(of: provider("format = \"mock\"\nheaders = { \"X-Ünïcode\" = \"yes\" }")) == ["providers.demo.headers"])
        #expect(keys(of: provider("format = \"mock\"\nheaders = { \"X-A\" = \"a\\r\\nInjected: b\" }")) == ["providers.demo.headers.X-A"])
        #expect(keys(of: provider("format = \"ollama\"\nmodels_path = \"api/tags\"")) == ["providers.demo.models_path"])
        #expect(keys(of: provider("format = \"anthropic\"\napi_version = \"1\\r\\nInjected: b\"")) == ["providers.demo.api_version"])
        #expect(
            keys(of: provider("format = \"anthropic\"\nhealth_check = \"chat\"\nhealth_check_model = \"c\"")) == ["providers.demo.health_check"])
    }

    @Test func environmentReferencesMustResolve() throws {
        let text = Self.minimal.replacingOccurrences(of: "\"sk-alice-token\"", with: "\"env:ALICE_TOKEN\"")
        #expect(keys(of: text) == ["users.alice.token"])
        let seed = try Seed(toml: text, environment: ["ALICE_TOKEN": "from-the-environment"])
        #expect(seed.configuration.users[0].tokenDigest == TokenDigest(token: "from-the-environment"))
    }

    @Test func mockSettingsNeedAMockProvider() {
        let text = """
            [providers.real]
            format = "openai"
            base_url = "http://127.0.0.1:9/v1"
            [models.chat]
            backends = [ { provider = "real", model = "x", mock = { chunks = 3 } } ]
            """
        #expect(keys(of: text) == ["models.chat.backends[0].mock"])
    }

    @Test func everyErrorIsReportedAtOnce() {
        let text = """
            [providers.demo]
            format = "nope"
            [models.chat]
            strategy = "psychic"
            backends = []
            [users.alice]
            token = "short"
            """
        #expect(Set(keys(of: text)) == ["providers.demo.format", "models.chat.strategy", "models.chat.backends", "users.alice.token"])
    }

    static let rolloutSeed = """
        [providers.demo]
        format = "mock"
        [models.chat]
        sticky = "user"
        hash_seed = "chat-2026"
        [models.chat.versions.a-canary]
        weight = 0
        backends = [ { provider = "demo", model = "new" } ]
        [models.chat.versions.stable]
        weight = 100
        default = true
        backends = [ { provider = "demo", model = "old" } ]
        [models.chat.versions.other]
        weight = 0
        backends = [ { provider = "demo", model = "x" } ]
        [models.chat.rollout]
        canary = "a-canary"
        steps = [ { set_weight = 1 }, { pause = "10m" }, { set_weight = 5 }, { pause = {} } ]
        analysis = { interval = "30s", min_requests = 100, max_error_rate_increase = 0.02 }
        """

    @Test func aSeedCanDeclareARolloutWhoseCanaryGoesLast() throws {
        let model = try #require(try Seed(toml: Self.rolloutSeed, environment: [:]).configuration.models.first)
        #expect(model.versions.map(\.name) == ["stable", "other", "a-canary"])
        #expect(model.seedRollout?.steps == [.setWeight(basisPoints: 100), .pause(seconds: 600), .setWeight(basisPoints: 500), .pause(seconds: nil)])
        #expect(model.seedRollout?.analysis.minRequests == 100)
        #expect(model.effectiveHashSeed == "chat-2026")
        #expect(
            keys(of: Self.rolloutSeed.replacingOccurrences(of: "canary = \"a-canary\"", with: "canary = \"stable\"")) == [
                "models.chat.rollout.canary"
            ])
        #expect(keys(of: Self.rolloutSeed.replacingOccurrences(of: "sticky = \"user\"", with: "sticky = \"cookie\"")) == ["models.chat.sticky"])
    }

    @Test func duplicateTokensAreRejected() {
        let text = Self.minimal + "\n[users.bob]\ntoken = \"sk-alice-token\"\n"
        #expect(keys(of: text) == ["users.bob.token"])
    }
}
