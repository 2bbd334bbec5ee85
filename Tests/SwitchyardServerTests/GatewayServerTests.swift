import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import Prometheus
import SwitchyardCore
import SwitchyardStore
import Testing

@testable import SwitchyardServer

/// `switchyard serve`'s composition, run in-process: a seed and an empty folder in, a gateway that
/// answers out, and the database released when its task is cancelled. (Cancelling is not a graceful
/// shutdown; the end-to-end tests stop the binary with SIGTERM, which drains and writes every outcome.)
@Suite struct GatewayServerTests {
    static let seed = """
        [server]
        admin_token = "server-test-admin"

        [providers.demo]
        format = "mock"

        [models.chat]
        backends = [ { provider = "demo", model = "echo" } ]

        [users.tester]
        token = "sk-server-test"
        """

    @Test func servesTheSeedAndStopsWhenCancelled() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("switchyard-server-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let server = GatewayServer(
            seed: try Seed(toml: Self.seed, environment: [:]), seedPath: nil, address: try HostAndPort(parsing: "127.0.0.1:0"),
            databasePath: folder.appendingPathComponent("switchyard.db").path, environment: [:],
            metricsRegistry: PrometheusCollectorRegistry())
        let (ports, portContinuation) = AsyncStream.makeStream(of: Int.self)
        let serving = Task {
            try await server.run(logger: Logger(label: "test"), printsBanner: false) { port in portContinuation.yield(port) }
        }
        var iterator = ports.makeAsyncIterator()
        let port = try #require(await iterator.next())

        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        do {
            var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/v1/chat/completions")
            request.method = .POST
            request.headers.add(name: "authorization", value: "Bearer sk-server-test")
            request.headers.add(name: "content-type", value: "application/json")
            request.body = .bytes(.init(string: #"{"model": "chat", "messages": [{"role": "user", "content": "hello"}]}"#))
            let answer = try await client.execute(request, timeout: .seconds(10))
            #expect(answer.status == .ok)
            let body = try await answer.body.collect(upTo: 1 << 20)
            #expect(String(buffer: body).contains("hello"))

            var admin = HTTPClientRequest(url: "http://127.0.0.1:\(port)/api/system")
            admin.headers.add(name: "authorization", value: "Bearer server-test-admin")
            let system = try await client.execute(admin, timeout: .seconds(10))
            #expect(system.status == .ok)
            _ = try await system.body.collect(upTo: 1 << 20)
        } catch {
            serving.cancel()
            try await client.shutdown()
            throw error
        }
        try await client.shutdown()

        serving.cancel()
        _ = await serving.result
        // The database is released: a second server can claim it.
        #expect(throws: Never.self) { _ = try DatabaseOwnerLock(databasePath: folder.appendingPathComponent("switchyard.db").path) }
    }
}
