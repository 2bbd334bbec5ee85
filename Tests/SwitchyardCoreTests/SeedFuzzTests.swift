import Foundation
import Testing

@testable import SwitchyardCore

/// The seed reader against mutated seeds: every input is either read or refused with key-path
/// errors — never a crash or a hang — and whatever is read exports to a seed that reads back the
/// same. Rounds: `SWITCHYARD_FUZZ_ROUNDS` (default 3000; `make fuzz` runs many more).
@Suite struct SeedFuzzTests {
    static let rounds = ProcessInfo.processInfo.environment["SWITCHYARD_FUZZ_ROUNDS"].flatMap(Int.init) ?? 3_000
    /// `make fuzz` keeps each input in a file before reading it, so an abort inside the TOML parser leaves the culprit behind.
    static let keepLastInput = ProcessInfo.processInfo.environment["SWITCHYARD_FUZZ_KEEP_INPUT"] == "1"

    static let corpus = [
        """
        [server]
        listen = "127.0.0.1:8080"
        max_connections = 100
        [settings]
        request_timeout_seconds = 30
        max_retries = 1
        [providers.demo]
        format = "mock"
        [providers.up]
        format = "openai"
        base_url = "https://robot:pw@llm.example.test/v1"
        api_key = "sk-literal-key-1234"
        headers = { "X-A" = "b" }
        cost_input_per_mtok = 0.5
        [models.chat]
        strategy = "failover"
        [models.chat.versions.v1]
        weight = 90
        default = true
        backends = [ { provider = "demo", model = "a", mock = { chunks = 2 } }, { provider = "up", model = "b", weight = 2 } ]
        [models.chat.versions.v2]
        weight = 10
        params = { temperature = 0.25, max_tokens = 9007199254740993 }
        backends = [ { provider = "up", model = "c" } ]
        [models.chat.rollout]
        canary = "v2"
        steps = [ { set_weight = 20 }, { pause = "1m" } ]
        [users.alice]
        token = "sk-alice-token"
        allowed_models = ["chat"]
        rate_limit = { requests_per_minute = 10 }
        budget = { daily_usd = 2.5 }
        """,
        """
        [providers.p]
        format = "anthropic"
        [models.m]
        backends = [ { provider = "p", model = "claude" } ]
        [users.u]
        token = "sk-user-token-2"
        tags = ["a", "b"]
        """,
    ]

    static let fragments = [
        "[", "]", "=", "\"", "\n", "{", "}", ",", ".", "0", "-1", "1e400", "nan", "\u{0}", "\r\n", " ", "'''", "#", "[[x]]",
        "weight = 100\n", "default = true\n", "[models.x]\n", "backends = []\n", "env:UNSET", "ü", "\u{2028}", "\"\"\"",
    ]

    @Test(arguments: ["\u{85}", "\u{2028}", "\u{2029}"])
    func unicodeLineBreaksThatAbortedTheTOMLParserAreRefused(lineBreak: String) {
        for text in ["a = [\(lineBreak)]", "a = [ 1,\(lineBreak) 2 ]", "[providers.p]\nformat = \"mock\" # \(lineBreak)"] {
            do {
                _ = try Seed(toml: text, environment: [:])
                Issue.record("read \(text.debugDescription)")
            } catch {
                #expect(error.errors.first?.reason.contains("Unicode line break") == true, "\(error)")
                #expect(error.errors.first?.line == (text.hasPrefix("[providers") ? 2 : 1))
            }
        }
    }

    @Test func mutatedSeedsAreReadOrRefusedAndWhatIsReadExportsToItself() throws {
        var random = SplitMix64(seed: 0x5EED_F022)
        var (read, refused) = (0, 0)
        for round in 0..<Self.rounds {
            var text = Array(Self.corpus[Int(random.next() % UInt64(Self.corpus.count))].utf8)
            for _ in 0..<(1 + Int(random.next() % 3)) { Self.mutate(&text, &random) }
            let source = String(decoding: text, as: UTF8.self)
            if Self.keepLastInput { try? source.write(toFile: "/tmp/switchyard-fuzz-last.toml", atomically: false, encoding: .utf8) }
            do {
                let seed = try Seed(toml: source, environment: [:])
                read += 1
                let exported = SeedExport.text(seed.configuration, header: "")
                let again = try Seed(toml: exported, environment: [:])
                #expect(again.configuration.models == seed.configuration.models, "round \(round): \(source)")
                #expect(again.configuration.settings == seed.configuration.settings, "round \(round)")
                let providers = zip(again.configuration.providers, seed.configuration.providers).map { $0.keepingSecrets(of: $1) }
                #expect(providers == seed.configuration.providers, "round \(round)")
            } catch {
                refused += 1
                #expect(!error.errors.isEmpty, "round \(round): refused without a reason")
            }
        }
        #expect(read > Self.rounds / 20 && refused > Self.rounds / 4, "read \(read), refused \(refused): the mutations reach both sides")
    }

    static func mutate(_ text: inout [UInt8], _ random: inout SplitMix64) {
        guard !text.isEmpty else { return }
        let at = Int(random.next() % UInt64(text.count))
        switch random.next() % 5 {
        case 0: text[at] = UInt8(truncatingIfNeeded: random.next())
        case 1: text.removeSubrange(at..<min(text.count, at + 1 + Int(random.next() % 12)))
        case 2: text.insert(contentsOf: Array(fragments[Int(random.next() % UInt64(fragments.count))].utf8), at: at)
        case 3:
            // Duplicate a line: duplicate keys and tables.
            let lines = text.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
            let line = lines[Int(random.next() % UInt64(lines.count))]
            text.insert(contentsOf: Array(line) + [UInt8(ascii: "\n")], at: text[..<at].lastIndex(of: UInt8(ascii: "\n")).map { $0 + 1 } ?? 0)
        default:
            // Replace a number with an extreme one.
            if let digit = text[at...].firstIndex(where: { (0x30...0x39).contains($0) }) {
                let extreme = ["-0", "1e308", "18446744073709551616", "0.000001"][Int(random.next() % 4)]
                text.replaceSubrange(digit..<digit + 1, with: Array(extreme.utf8))
            }
        }
    }
}
