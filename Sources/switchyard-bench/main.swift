// Micro-benchmarks run by `make bench` (release build): what a feature costs per request, and
// how long reading an experiment's results takes after a million recorded requests.
import Foundation
import GRDB
import Logging
import SwitchyardCore
import SwitchyardStore

let seed = """
    [providers.mock]
    format = "mock"

    [models.chat.versions.v1]
    weight = 90
    default = true
    backends = [ { provider = "mock", model = "a" }, { provider = "mock", model = "b" } ]
    [models.chat.versions.v2]
    weight = 10
    backends = [ { provider = "mock", model = "c" } ]
    """

func nanosecondsPerCall(iterations: Int, _ body: () -> Void) -> Double {
    for _ in 0..<iterations / 10 { body() }
    let start = ContinuousClock.now
    for _ in 0..<iterations { body() }
    let elapsed = ContinuousClock.now - start
    return Double(elapsed.components.seconds) * 1e9 / Double(iterations) + Double(elapsed.components.attoseconds) / 1e9 / Double(iterations)
}

func routingCost() throws {
    let spec = try Seed(toml: seed, environment: [:]).configuration
    var experiment = Experiment(
        id: "e-bench", name: "bench", model: "chat",
        variants: [.init(id: "a", name: "a", target: .version("v1"), weight: 1), .init(id: "b", name: "b", target: .version("v2"), weight: 1)],
        control: "a", now: 0)
    try experiment.apply(.start, now: 0)
    let plain = EffectiveConfiguration(spec, environment: [:])
    let withExperiment = EffectiveConfiguration(spec, environment: [:], experiments: [experiment])
    let user = UserSpec(id: "bench-user", tokenDigest: TokenDigest(token: "x"))
    let users = (0..<1_024).map { "user-\($0)" }
    let router = RequestRouter()
    var random = SplitMix64(seed: 1)
    var index = 0
    var sink = 0
    func measure(_ configuration: EffectiveConfiguration) -> Double {
        nanosecondsPerCall(iterations: 1_000_000) {
            index = (index + 1) & 1_023
            let request = RouteRequest(model: "chat", user: user, endUser: users[index])
            let decision = try? router.route(request, in: configuration, health: { _ in BackendStatus() }, using: &random)
            sink &+= decision?.version.name.utf8.count ?? 0
        }
    }
    let base = measure(plain)
    let experimentCost = measure(withExperiment)
    let assignment = ActiveExperiment(experiment)
    let assignOnly = nanosecondsPerCall(iterations: 1_000_000) {
        index = (index + 1) & 1_023
        sink &+= assignment.assign(key: users[index], using: &random).bucket
    }
    print("| routing decision, no experiment | \(String(format: "%.0f", base)) ns |")
    print("| routing decision, experiment running (consistent_hash) | \(String(format: "%.0f", experimentCost)) ns |")
    print("| variant assignment alone | \(String(format: "%.0f", assignOnly)) ns |")
    if sink == 42 { print("") }
}

func experimentResultsCost() async throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("switchyard-bench-\(getpid())")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let store = try SQLiteStore(path: directory.appendingPathComponent("bench.sqlite").path)
    var logger = Logger(label: "bench")
    logger.logLevel = .error
    let writer = EventWriter(store: store, logger: logger)
    let experiment = Experiment(
        id: "e-bench", name: "bench", model: "chat",
        variants: [.init(id: "a", name: "a", target: .version("v1"), weight: 1), .init(id: "b", name: "b", target: .version("v2"), weight: 1)],
        control: "a", now: 0)
    try await store.apply(ConfigurationChange(experiment: experiment))
    // A million requests over 30 days: one every 2.6 s, alternating variants, two backends each.
    let total = 1_000_000
    let start = 1_800_000_000.0
    let spacing = 30 * 86_400 / Double(total)
    var random = SplitMix64(seed: 3)
    let writeStart = ContinuousClock.now
    for batch in 0..<(total / 10_000) {
        for offset in 0..<10_000 {
            let index = batch * 10_000 + offset
            let variant = index % 2 == 0 ? "a" : "b"
            let failed = Double.random(in: 0..<1, using: &random) < (variant == "a" ? 0.02 : 0.025)
            var event = OutcomeEvent(
                time: start + Double(index) * spacing, requestID: "r\(index)", userID: "u\(index % 5_000)", model: "chat",
                version: variant == "a" ? "v1" : "v2", backend: "mock/\(variant)\(index % 4 < 2 ? 1 : 2)", endpoint: "chat.completions",
                status: failed ? 500 : 200, stream: true, latencyMilliseconds: Double.random(in: 200...900, using: &random),
                timeToFirstTokenMilliseconds: Double.random(in: 50...300, using: &random), inputTokens: 300, outputTokens: 120,
                costUSD: 0.00054)
            event.experiment = "e-bench"
            event.variant = variant
            writer.record(event)
        }
        try await writer.flush()
    }
    let writeSeconds = (ContinuousClock.now - writeStart) / .seconds(1)
    let rows = try await store.pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM rollup_minute WHERE experiment = 'e-bench'") ?? 0 }
    var timings: [Double] = []
    var summary = ""
    for _ in 0..<5 {
        let begin = ContinuousClock.now
        let results = ExperimentResults(experiment: experiment, totals: try await store.experimentTotals("e-bench"))
        timings.append((ContinuousClock.now - begin) / .milliseconds(1))
        summary = results.summary
    }
    timings.sort()
    print("| write 1,000,000 outcome events (request log + rollups, batches of 10,000) | \(String(format: "%.1f", writeSeconds)) s |")
    print(
        "| results of an experiment with 1,000,000 requests (\(rows) per-minute rollup rows), median of 5 | \(String(format: "%.2f", timings[2])) ms |"
    )
    print("")
    print("Results summary: \(summary)")
}

/// What the Anthropic format adds per request: the request's translation (2 KB prompt) against
/// OpenAI pass-through (the body is serialized either way), and a 200-chunk answer stream parsed and
/// translated event by event (pass-through relays the events as they are).
func anthropicTranslationCost() throws {
    let prompt = String(repeating: "The quick brown fox jumps over the lazy dog. ", count: 46)  // ~2 KB
    let body: [String: JSONValue] = [
        "model": "chat", "stream": .bool(true), "max_tokens": 512, "temperature": .number(0.7),
        "messages": .array([
            .object(["role": "system", "content": "You are a helpful assistant."]), .object(["role": "user", "content": .string(prompt)]),
        ]),
    ]
    var sink = 0
    let passThrough = nanosecondsPerCall(iterations: 20_000) { sink &+= JSONValue.object(body).jsonBytes.count }
    let translated = nanosecondsPerCall(iterations: 20_000) {
        sink &+= ((try? AnthropicTranslation.request(from: body, model: "claude", stream: true))?.jsonBytes.count ?? 0)
    }
    var events: [[UInt8]] = [
        Array(
            #"{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],"model":"claude","usage":{"input_tokens":520,"output_tokens":1}}}"#
                .utf8),
        Array(#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#.utf8),
    ]
    for index in 0..<200 {
        events.append(Array(#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" token\#(index)"}}"#.utf8))
    }
    events.append(Array(#"{"type":"content_block_stop","index":0}"#.utf8))
    events.append(Array(#"{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":200}}"#.utf8))
    events.append(Array(#"{"type":"message_stop"}"#.utf8))
    let stream = nanosecondsPerCall(iterations: 2_000) {
        var translator = AnthropicStreamTranslator(created: 0, includeUsage: true)
        for event in events {
            guard let value = try? JSONValue.parse(event) else { continue }
            for payload in translator.translate(value) { sink &+= payload.utf8.count }
        }
    }
    print("| OpenAI pass-through: serialize a 2 KB chat request | \(String(format: "%.1f", passThrough / 1_000)) µs |")
    print("| Anthropic: translate and serialize the same request | \(String(format: "%.1f", translated / 1_000)) µs |")
    print("| Anthropic: parse and translate a 200-chunk answer stream (205 events) | \(String(format: "%.1f", stream / 1_000)) µs |")
    if sink == 42 { print("") }
}

print("| measurement | value |")
print("|---|---|")
try routingCost()
try anthropicTranslationCost()
try await experimentResultsCost()
