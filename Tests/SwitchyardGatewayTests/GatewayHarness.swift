import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import SwitchyardCore
import Synchronization

@testable import SwitchyardGateway

/// Runs the real gateway on 127.0.0.1 (port chosen by the system) in front of a `TestUpstream`,
/// hands the test a base URL, and stops both at the end.
struct GatewayHarness {
    let baseURL: String
    /// The test upstream's OpenAI base URL, `http://127.0.0.1:PORT/v1`.
    let upstreamBaseURL: String
    let upstream: TestUpstream
    let outcomes: InMemoryOutcomeSink
    let client: HTTPClient

    static let userToken = "sk-test-user"

    static func seed(upstreamPort: Int, closedPort: Int, settings: String = "") -> String {
        """
        [settings]
        \(settings)

        [providers.up]
        format = "openai"
        base_url = "http://127.0.0.1:\(upstreamPort)/v1"
        api_key = "upstream-secret"
        headers = { "X-Provider" = "extra" }
        cost_input_per_mtok = 1000
        cost_output_per_mtok = 2000

        [providers.slow]
        format = "openai"
        base_url = "http://127.0.0.1:\(upstreamPort)/v1"
        timeout_seconds = 0.5

        [providers.gone]
        format = "openai"
        base_url = "http://127.0.0.1:\(closedPort)/v1"

        [providers.sim]
        format = "mock"

        [models.ok]
        [models.ok.versions.v7]
        weight = 100
        default = true
        params = { temperature = 0.25, max_tokens = 42 }
        backends = [ { provider = "up", model = "ok" } ]

        [models.slow-stream]
        backends = [ { provider = "up", model = "slow-stream" } ]
        [models.cut-stream]
        backends = [ { provider = "up", model = "cut-stream" } ]
        [models.end-after-done-text]
        backends = [ { provider = "up", model = "end-after-done-text" } ]
        [models.error-500]
        backends = [ { provider = "up", model = "error-500" } ]
        [models.html-502]
        backends = [ { provider = "up", model = "html-502" } ]
        [models.stall]
        backends = [ { provider = "slow", model = "stall" } ]
        [models.gone]
        backends = [ { provider = "gone", model = "x" } ]
        [models.late-head]
        backends = [ { provider = "up", model = "late-head" } ]
        [models.late-token]
        backends = [ { provider = "up", model = "late-token" } ]
        [models.mock]
        backends = [ { provider = "sim", model = "m", mock = { chunks = 3 } } ]
        [models.forbidden]
        backends = [ { provider = "sim", model = "f" } ]

        [users.limited]
        token = "sk-limited-user"
        allowed_models = ["mock"]
        rate_limit = { requests_per_minute = 100 }

        [users.spender]
        token = "sk-spender-user"
        allowed_models = ["ok", "slow-stream"]
        budget = { daily_usd = 0.01 }

        [users.tester]
        token = "\(userToken)"
        allowed_models = ["ok", "slow-stream", "cut-stream", "end-after-done-text", "error-500", "html-502", "stall", "gone", "mock", "late-head", "late-token"]
        """
    }

    static let adminToken = "test-admin-token"

    static func options(_ maxBodyBytes: Int) -> GatewayOptions {
        var options = GatewayOptions(host: "127.0.0.1", port: 0, maxBodyBytes: maxBodyBytes, connectTimeoutSeconds: 2, readTimeoutSeconds: 5)
        options.adminTokens = [TokenDigest(token: adminToken)]
        return options
    }

    static func withGateway(
        maxBodyBytes: Int = 4096, settings: String = "", _ body: @Sendable (GatewayHarness) async throws -> Void
    ) async throws {
        var logger = Logger(label: "gateway-test")
        logger.logLevel = .error
        let upstream = TestUpstream()
        let (upstreamPorts, upstreamPortSink) = AsyncStream.makeStream(of: Int.self)
        let upstreamApp = upstream.application { upstreamPortSink.yield($0) }
        let upstreamGroup = ServiceGroup(configuration: .init(services: [upstreamApp], logger: logger))

        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await upstreamGroup.run() }
            var ports = upstreamPorts.makeAsyncIterator()
            let upstreamPort = await ports.next()!

            let seedText = try seed(upstreamPort: upstreamPort, closedPort: try closedPort(), settings: settings)
            do {
                try await runGateway(seed: seedText, options: options(maxBodyBytes), logger: logger) { gatewayPort, outcomes in
                    let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup)
                    let harness = GatewayHarness(
                        baseURL: "http://127.0.0.1:\(gatewayPort)", upstreamBaseURL: "http://127.0.0.1:\(upstreamPort)/v1", upstream: upstream,
                        outcomes: outcomes, client: client)
                    do {
                        try await body(harness)
                    } catch {
                        try await client.shutdown()
                        throw error
                    }
                    try await client.shutdown()
                }
            } catch {
                await upstreamGroup.triggerGracefulShutdown()
                throw error
            }
            await upstreamGroup.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }

    /// Runs the gateway on `seed` with in-memory stores, hands `body` its port and outcome sink, and stops it.
    static func runGateway(
        seed seedText: String, options: GatewayOptions, logger: Logger,
        _ body: @Sendable (_ port: Int, _ outcomes: InMemoryOutcomeSink) async throws -> Void
    ) async throws {
        try await runGateway(seed: seedText, options: options, logger: logger) { port, outcomes, _ in try await body(port, outcomes) }
    }

    /// The same, and `body` may start the gateway's graceful shutdown itself (`shutDown`) before it returns.
    static func runGateway(
        seed seedText: String, options: GatewayOptions, logger: Logger,
        _ body: @Sendable (_ port: Int, _ outcomes: InMemoryOutcomeSink, _ shutDown: @escaping @Sendable () async -> Void) async throws -> Void
    ) async throws {
        let seed = try Seed(toml: seedText, environment: [:])
        let repository = InMemoryConfigurationRepository()
        _ = try await repository.applySeed(seed.configuration)
        let outcomes = InMemoryOutcomeSink()
        let stores = GatewayStores(
            configuration: repository, releases: InMemoryReleaseRepository(configuration: repository), sessions: InMemorySessionRepository(),
            outcomes: outcomes, usage: outcomes, experiments: outcomes, stats: outcomes, shadows: outcomes)
        let (gatewayPorts, gatewayPortSink) = AsyncStream.makeStream(of: Int.self)
        let gateway = try await buildApplication(
            options: options, stores: stores, environment: [:], logger: logger, onServerRunning: { gatewayPortSink.yield($0) })
        let gatewayGroup = ServiceGroup(configuration: .init(services: [gateway], logger: logger))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await gatewayGroup.run() }
            var gatewayPortIterator = gatewayPorts.makeAsyncIterator()
            let gatewayPort = await gatewayPortIterator.next()!
            do {
                try await body(gatewayPort, outcomes) { await gatewayGroup.triggerGracefulShutdown() }
            } catch {
                await gatewayGroup.triggerGracefulShutdown()
                throw error
            }
            await gatewayGroup.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }

    /// A port nothing listens on: bound, then closed.
    static func closedPort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Sends a JSON request to the gateway with the test user's token unless `token` says otherwise.
    func post(
        _ path: String, json: String, token: String? = GatewayHarness.userToken, headers: [(String, String)] = []
    ) async throws -> HTTPClientResponse {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = .POST
        request.headers.add(name: "content-type", value: "application/json")
        if let token { request.headers.add(name: "authorization", value: "Bearer \(token)") }
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(string: json))
        return try await client.execute(request, timeout: .seconds(20))
    }

    func get(_ path: String, token: String? = GatewayHarness.userToken) async throws -> HTTPClientResponse {
        var request = HTTPClientRequest(url: baseURL + path)
        if let token { request.headers.add(name: "authorization", value: "Bearer \(token)") }
        return try await client.execute(request, timeout: .seconds(20))
    }

    /// Waits (bounded) until an outcome matching `predicate` has been recorded.
    func outcome(where predicate: (OutcomeEvent) -> Bool) async throws -> OutcomeEvent? {
        for _ in 0..<100 {
            if let event = outcomes.recorded.first(where: predicate) { return event }
            try await Task.sleep(for: .milliseconds(20))
        }
        return nil
    }
}

extension HTTPClientResponse {
    func text() async throws -> String {
        String(buffer: try await body.collect(upTo: 1 << 22))
    }

    func errorObject() async throws -> [String: Any] {
        let data = Data(try await text().utf8)
        let json = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        return json?["error"] as? [String: Any] ?? [:]
    }
}

func chatBody(model: String, stream: Bool = false, includeUsage: Bool? = nil, extra: String = "") -> String {
    var text = #"{"model":"\#(model)","messages":[{"role":"user","content":"hi there"}]"#
    if stream { text += #","stream":true"# }
    if let includeUsage { text += #","stream_options":{"include_usage":\#(includeUsage)}"# }
    return text + extra + "}"
}
