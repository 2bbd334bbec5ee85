import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import SwitchyardCore
import Testing

@testable import SwitchyardGateway

// Just over 400 lines: the request path's pool, backpressure, hostile-client and byte-passing
// checks share this suite's private servers and helpers.

/// The SwiftNIO request path: upstream pooling, backpressure, deadlines, connection caps, well-formed
/// streams and bytes passed through as they came.
@Suite struct RequestPathTests {
    static let token = "sk-path-user"

    static func seed(
        upstreamPort: Int, scheme: String = "http", host: String = "127.0.0.1", params: String = "",
        backends: String = #"{ provider = "up", model = "upstream-m" }"#
    ) -> String {
        """
        [settings]
        health_check_interval_seconds = 0

        [providers.up]
        format = "openai"
        base_url = "\(scheme)://\(host):\(upstreamPort)/v1"
        health_check = "none"

        [models.m]
        strategy = "failover"
        [models.m.versions.v1]
        weight = 100
        default = true
        \(params.isEmpty ? "" : "params = \(params)")
        backends = [ \(backends) ]

        [users.u]
        token = "\(token)"
        """
    }

    static func options(_ adjust: (inout GatewayOptions) -> Void = { _ in }) -> GatewayOptions {
        var options = GatewayOptions(host: "127.0.0.1", port: 0, maxBodyBytes: 1 << 20, connectTimeoutSeconds: 2, readTimeoutSeconds: 5)
        adjust(&options)
        return options
    }

    static var logger: Logger {
        var logger = Logger(label: "request-path-test")
        logger.logLevel = .error
        return logger
    }

    /// Runs a gateway in front of `upstream` and hands `body` its port.
    /// The outcomes once `count` are recorded (or after 2 s): a request's outcome is recorded just
    /// after its answer is written, so a client can read the answer a moment before it.
    static func recorded(_ outcomes: InMemoryOutcomeSink, count: Int) async throws -> [OutcomeEvent] {
        for _ in 0..<200 where outcomes.recorded.count < count {
            try await Task.sleep(for: .milliseconds(10))
        }
        return outcomes.recorded
    }

    static func withGateway(
        _ upstream: ScriptedUpstream, tls: NIOSSLContext? = nil, host: String = "127.0.0.1", params: String = "",
        backends: String = #"{ provider = "up", model = "upstream-m" }"#, options adjust: (inout GatewayOptions) -> Void = { _ in },
        _ body: @Sendable (Int, InMemoryOutcomeSink) async throws -> Void
    ) async throws {
        let upstreamPort = try await upstream.start(tls: tls)
        defer { Task { await upstream.stop() } }
        let seed = seed(upstreamPort: upstreamPort, scheme: tls == nil ? "http" : "https", host: host, params: params, backends: backends)
        try await GatewayHarness.runGateway(seed: seed, options: options(adjust), logger: logger, body)
    }

    static func chat(_ client: HTTPClient, port: Int, body: String = #"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#)
        async throws -> (status: Int, text: String)
    {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/v1/chat/completions")
        request.method = .POST
        request.headers.add(name: "authorization", value: "Bearer \(token)")
        request.headers.add(name: "content-type", value: "application/json")
        request.body = .bytes(ByteBuffer(string: body))
        let response = try await client.execute(request, timeout: .seconds(10))
        return (Int(response.status.code), String(buffer: try await response.body.collect(upTo: 1 << 24)))
    }

    static func rawChat(stream: Bool = false, body: String? = nil) -> String {
        let json = body ?? #"{"model":"m","stream":\#(stream),"messages":[{"role":"user","content":"hi"}]}"#
        return "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer \(token)\r\ncontent-type: application/json\r\n"
            + "content-length: \(json.utf8.count)\r\n\r\n\(json)"
    }

    // MARK: Pool

    @Test func anUpstreamRequestHeadIsWrittenAsHTTPOneOne() {
        let body = ByteBuffer(string: #"{"model":"m"}"#)
        let post = UpstreamRequestHead(
            path: "/v1/chat/completions", headers: [("host", "up.example:8080"), ("content-length", "13"), ("x-é", "ü"), ("x-empty", "")],
            body: body)
        let encoded = post.encoded(allocator: ByteBufferAllocator())
        #expect(
            String(buffer: encoded.bytes)
                == "POST /v1/chat/completions HTTP/1.1\r\nhost: up.example:8080\r\ncontent-length: 13\r\nx-é: ü\r\nx-empty: \r\n\r\n"
                + #"{"model":"m"}"#)
        #expect(encoded.includesBody)
        let get = UpstreamRequestHead(method: .DELETE, path: "/v1/responses/resp_1", headers: [], body: ByteBuffer())
        #expect(String(buffer: get.encoded(allocator: ByteBufferAllocator()).bytes) == "DELETE /v1/responses/resp_1 HTTP/1.1\r\n\r\n")
        // A large body stays a buffer of its own, written behind the head.
        let large = UpstreamRequestHead(path: "/v1/embeddings", headers: [], body: ByteBuffer(repeating: 0x61, count: 20_000))
        let encodedLarge = large.encoded(allocator: ByteBufferAllocator())
        #expect(!encodedLarge.includesBody && String(buffer: encodedLarge.bytes) == "POST /v1/embeddings HTTP/1.1\r\n\r\n")
    }

    @Test func aKeepAliveUpstreamConnectionIsReusedAcrossRequests() async throws {
        let upstream = ScriptedUpstream { _ in .reply(cannedCompletion()) }
        try await Self.withGateway(upstream) { port, _ in
            let client = try RawClient(port: port)
            for _ in 0..<5 {
                client.send(Self.rawChat())
                let answer = await client.read(for: 10)
                #expect(answer.text.hasPrefix("HTTP/1.1 200"))
            }
            #expect(upstream.chatRequests.map(\.connection).uniqued == 1)
            #expect(upstream.chatRequests.map(\.number) == [1, 2, 3, 4, 5])
        }
    }

    @Test func aConnectionTheUpstreamClosedBetweenRequestsIsRetriedOnceOnANewOne() async throws {
        // The second request on any connection finds it closed, as after an upstream's idle timeout.
        let upstream = ScriptedUpstream { request in request.number == 2 ? .close : .reply(cannedCompletion()) }
        try await Self.withGateway(upstream) { port, outcomes in
            let client = try RawClient(port: port)
            client.send(Self.rawChat())
            #expect(await client.read(for: 10).text.hasPrefix("HTTP/1.1 200"))
            client.send(Self.rawChat())
            #expect(await client.read(for: 10).text.hasPrefix("HTTP/1.1 200"))
            #expect(upstream.chatRequests.map(\.connection).uniqued == 2)
            #expect(try await Self.recorded(outcomes, count: 2).map(\.status) == [200, 200])
        }
    }

    @Test func aFreshConnectionThatClosesIsAFailureNotARetry() async throws {
        let upstream = ScriptedUpstream { _ in .close }
        try await Self.withGateway(upstream, options: { $0.connections.idleTimeout = .seconds(5) }) { port, _ in
            let client = try RawClient(port: port)
            client.send(Self.rawChat())
            let answer = await client.read(for: 10)
            #expect(answer.text.hasPrefix("HTTP/1.1 502"))
            #expect(answer.text.contains("upstream_unreachable"))
            // A new connection that closes is the backend's failure: not retried as a stale one.
            #expect(upstream.chatRequests.map(\.connection).uniqued == 1)
        }
    }

    @Test func thePoolNeverOpensMoreConnectionsThanItsSize() async throws {
        let upstream = ScriptedUpstream { _ in .delayed(milliseconds: 100, cannedCompletion()) }
        try await Self.withGateway(upstream, options: { $0.upstreamPoolSize = 2 }) { port, _ in
            let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup)
            let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<16 { group.addTask { try await Self.chat(client, port: port).status } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            try await client.shutdown()
            #expect(statuses == Array(repeating: 200, count: 16))
            let loops = MultiThreadedEventLoopGroup.singleton.makeIterator().reduce(0) { count, _ in count + 1 }
            // One more: model discovery's own client at start.
            #expect(upstream.maxOpenConnections <= 2 * loops + 1)
        }
    }

    @Test func upstreamsAreReachedOverTLS() async throws {
        let (certificate, key) = try Self.selfSignedCertificate()
        let tls = try NIOSSLContext(
            configuration: .makeServerConfiguration(
                certificateChain: try NIOSSLCertificate.fromPEMBytes(Array(certificate.utf8)).map { .certificate($0) },
                privateKey: .privateKey(try NIOSSLPrivateKey(bytes: Array(key.utf8), format: .pem))))
        let upstream = ScriptedUpstream { _ in .reply(cannedCompletion()) }
        try await Self.withGateway(upstream, tls: tls, host: "localhost", options: { $0.upstreamTrustRootsPEM = [certificate] }) { port, _ in
            let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup)
            let answer = try await Self.chat(client, port: port)
            let again = try await Self.chat(client, port: port)
            try await client.shutdown()
            #expect(answer.status == 200)
            #expect(again.status == 200)
            #expect(answer.text.contains(#""content":"hi""#))
        }
    }

    /// A certificate for `localhost`, made by the system's openssl.
    static func selfSignedCertificate() throws -> (certificate: String, key: String) {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("switchyard-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = [
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
            "-keyout", folder.appendingPathComponent("key.pem").path, "-out", folder.appendingPathComponent("cert.pem").path,
        ]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        return (
            try String(contentsOf: folder.appendingPathComponent("cert.pem"), encoding: .utf8),
            try String(contentsOf: folder.appendingPathComponent("key.pem"), encoding: .utf8)
        )
    }

    // MARK: Backpressure and leaks

    @Test func aClientThatDoesNotReadHoldsTheUpstreamBackInsteadOfFillingMemory() async throws {
        let event = "data: {\"choices\":[{\"delta\":{\"content\":\"" + String(repeating: "x", count: 1000) + "\"}}]}\n\n"
        let upstream = ScriptedUpstream { _ in .flood(event: event, events: 256_000) }  // 256 MB
        try await Self.withGateway(upstream) { port, _ in
            let client = try RawClient(port: port)
            client.setReceiveBuffer(16 * 1024)
            client.send(Self.rawChat(stream: true))
            try await Task.sleep(for: .seconds(2))
            let sent = upstream.floodBytesWritten
            // Loopback socket buffers grow to 32 MB (tcp_rmem) + 4 MB (tcp_wmem) per hop; the gateway itself
            // holds one read. Without backpressure the whole 256 MB leaves within these two seconds.
            #expect(sent < 64 << 20, "the upstream got \(sent) bytes out while the client read nothing")
            #expect(sent > 0)
        }
    }

    @Test func noExchangeOrTimerOutlivesItsRequest() async throws {
        let upstream = ScriptedUpstream { request in
            if request.body.contains("\"stream\":true") {
                let events = "data: {\"choices\":[]}\n\ndata: [DONE]\n\n"
                return .reply("HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: \(events.utf8.count)\r\n\r\n\(events)")
            }
            return request.body.contains("fail")
                ? .reply("HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\n\r\n") : .reply(cannedCompletion())
        }
        let gauges = RequestPathGauges()
        try await Self.withGateway(upstream, options: { $0.gauges = gauges }) { port, _ in
            let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup)
            for index in 0..<30 {
                let body =
                    index % 3 == 0
                    ? #"{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}"#
                    : index % 3 == 1 ? #"{"model":"m","messages":[{"role":"user","content":"fail"}]}"# : #"{"model":"nope","messages":[1]}"#
                _ = try await Self.chat(client, port: port, body: body)
            }
            do {
                // A client that leaves in the middle of its request.
                let leaver = try RawClient(port: port)
                leaver.send(String(Self.rawChat().prefix(60)))
            }
            try await client.shutdown()
            var settled = false
            for _ in 0..<50 where !settled {
                try await Task.sleep(for: .milliseconds(20))
                settled = gauges.liveExchanges == 0 && gauges.armedTimers == 0
            }
            #expect(gauges.liveExchanges == 0)
            #expect(gauges.armedTimers == 0)
        }
    }

    // MARK: Hostile clients

    @Test func headersSentAByteAtATimeAreCutOffAtTheHeaderDeadline() async throws {
        let upstream = ScriptedUpstream { _ in .reply(cannedCompletion()) }
        try await Self.withGateway(upstream, options: { $0.connections.headerTimeout = .milliseconds(400) }) { port, _ in
            let client = try RawClient(port: port)
            var closed = false
            for byte in Self.rawChat().prefix(40) where !closed {
                client.send(String(byte))
                closed = await client.read(for: 0.1).closed
            }
            #expect(closed, "a header trickling in for 4 s outlived a 0.4 s header deadline")
        }
    }

    @Test func idleConnectionsAndUnfinishedBodiesAreClosed() async throws {
        let upstream = ScriptedUpstream { _ in .reply(cannedCompletion()) }
        try await Self.withGateway(
            upstream,
            options: {
                $0.connections.idleTimeout = .milliseconds(300)
                $0.connections.bodyTimeout = .milliseconds(300)
            }
        ) { port, _ in
            let silent = try RawClient(port: port)
            #expect(await silent.read(for: 10).closed)

            let served = try RawClient(port: port)
            served.send(Self.rawChat())
            let answer = await served.read(for: 10)
            #expect(answer.text.hasPrefix("HTTP/1.1 200"))
            let closedAfter = await served.read(for: 10).closed
            #expect(answer.closed || closedAfter)

            let halfBody = try RawClient(port: port)
            halfBody.send(String(Self.rawChat().dropLast(10)))
            #expect(await halfBody.read(for: 10).closed)
        }
    }

    @Test func beyondTheCapConnectionsAreClosedAndTheReserveStillServesTheOperator() async throws {
        let upstream = ScriptedUpstream { _ in .reply(cannedCompletion()) }
        try await Self.withGateway(
            upstream,
            options: {
                $0.connections.maxConnections = 3
                $0.connections.reservedConnections = 1
            }
        ) { port, _ in
            let clients = try (0..<2).map { _ in try RawClient(port: port) }
            clients[0].send(Self.rawChat())
            #expect(await clients[0].read(for: 10).text.hasPrefix("HTTP/1.1 200"))
            // The third connection is the reserve: the operator's paths only.
            let reserve = try RawClient(port: port)
            reserve.send("GET /health HTTP/1.1\r\nhost: x\r\n\r\n")
            #expect(await reserve.read(for: 10).text.hasPrefix("HTTP/1.1 200"))
            let beyond = try RawClient(port: port)
            beyond.send("GET /health HTTP/1.1\r\nhost: x\r\n\r\n")
            let answer = await beyond.read(for: 10)
            #expect(answer.closed && answer.text.isEmpty)
            reserve.send(Self.rawChat())
            let refused = await reserve.read(for: 10).text
            #expect(refused.hasPrefix("HTTP/1.1 503"))
            #expect(refused.contains("server_busy"))
            _ = clients
        }
    }

    // MARK: Streams and bytes

    @Test func anUpstreamCutMidEventEndsWithAnErrorEventThatStandsAlone() async throws {
        let upstream = ScriptedUpstream { _ in
            .replyAndClose(
                "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n"
                    + "data: {\"choices\":[{\"delta\":{\"content\":\"word\"}}]}\n\ndata: {\"choices\":[{\"delta\":{\"content\":\"wor")
        }
        try await Self.withGateway(upstream) { port, _ in
            let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup)
            let answer = try await Self.chat(client, port: port, body: #"{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}"#)
            try await client.shutdown()
            let events = answer.text.components(separatedBy: "\n\n").filter { !$0.isEmpty }
            #expect(events.count == 2, "\(answer.text)")
            #expect(events.first == #"data: {"choices":[{"delta":{"content":"word"}}]}"#)
            #expect(events.last?.hasPrefix(#"data: {"error":"#) == true)
            #expect(!answer.text.contains("data: [DONE]"))
        }
    }

    @Test func aTwoHundredThatIsNotAJSONObjectIsTheBackendsFailure() async throws {
        let html = "<html><body>Please sign in</body></html>"
        let script: @Sendable (ScriptedUpstream.Request) -> ScriptedUpstream.Action = { request in
            if request.body.contains("\"login-wall\"") {
                return .reply("HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: \(html.utf8.count)\r\n\r\n\(html)")
            }
            if request.body.contains("\"broken-json\"") {
                return .reply("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 7\r\n\r\n{\"id\":1")
            }
            return .reply(cannedCompletion())
        }
        let upstream = ScriptedUpstream(script: script)
        let backends = #"{ provider = "up", model = "login-wall" }, { provider = "up", model = "broken-json" }, { provider = "up", model = "fine" }"#
        try await Self.withGateway(upstream, backends: backends) { port, outcomes in
            let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup)
            let answer = try await Self.chat(client, port: port)
            #expect(answer.status == 200, "failed over past the HTML page and the cut JSON")
            #expect(upstream.chatRequests.count == 3)
            #expect(try await Self.recorded(outcomes, count: 1).map(\.status) == [200])
            #expect(outcomes.recorded.first?.failovers == 2)
            try await client.shutdown()
        }
        // A second upstream: `withGateway` stops the first in a task of its own, which could close a restarted one.
        try await Self.withGateway(ScriptedUpstream(script: script), backends: #"{ provider = "up", model = "login-wall" }"#) { port, outcomes in
            let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup)
            let answer = try await Self.chat(client, port: port)
            try await client.shutdown()
            #expect(answer.status == 502)
            #expect(answer.text.contains("something other than a JSON object (content type text/html)"))
            #expect(!answer.text.contains("sign in"))
            #expect(try await Self.recorded(outcomes, count: 1).map(\.status) == [502])
        }
    }

    @Test func answersFramedEveryWayAreRelayedAndAMalformedOneIsTheBackendsFailure() async throws {
        let body = #"{"id":"c1","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"hi"}}]}"#
        let half = body.utf8.count / 2
        let chunked =
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n"
            + String(half, radix: 16) + ";ext=1\r\n" + String(body.prefix(half)) + "\r\n"
            + String(body.utf8.count - half, radix: 16) + "\r\n" + String(body.dropFirst(half)) + "\r\n0\r\nx-trailer: t\r\n\r\n"
        // One upstream per gateway: `withGateway` stops its upstream in a task of its own afterwards.
        let script: @Sendable (ScriptedUpstream.Request) -> ScriptedUpstream.Action = { request in
            switch true {
            case request.body.contains("\"chunked\""): .reply(chunked)
            case request.body.contains("\"interim\""): .reply("HTTP/1.1 100 Continue\r\n\r\n" + cannedCompletion())
            case request.body.contains("\"until-close\""): .replyAndClose("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n" + body)
            case request.body.contains("\"smuggled\""):
                .reply("HTTP/1.1 200 OK\r\ncontent-length: 4\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n")
            default: .reply(cannedCompletion())
            }
        }
        // An answer read until the close leaves no connection to reuse; the others are reused.
        for (model, connections) in [("chunked", 1), ("interim", 1), ("until-close", 2)] {
            let upstream = ScriptedUpstream(script: script)
            try await Self.withGateway(upstream, backends: #"{ provider = "up", model = "\#(model)" }"#) { port, outcomes in
                let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup)
                let first = try await Self.chat(client, port: port)
                let second = try await Self.chat(client, port: port)
                try await client.shutdown()
                #expect(first.status == 200 && second.status == 200, "\(model): \(first.text) \(second.text)")
                #expect(first.text.contains(#""content":"hi""#) && second.text == first.text, "\(model)")
                #expect(try await Self.recorded(outcomes, count: 2).map(\.status) == [200, 200])
            }
            #expect(upstream.chatRequests.map(\.connection).uniqued == connections, "\(model)")
        }

        // Both framings at once: the connection is dropped and the next backend answers.
        let smuggledThenFine = #"{ provider = "up", model = "smuggled" }, { provider = "up", model = "fine" }"#
        try await Self.withGateway(ScriptedUpstream(script: script), backends: smuggledThenFine) { port, outcomes in
            let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup)
            let answer = try await Self.chat(client, port: port)
            try await client.shutdown()
            #expect(answer.status == 200)
            #expect(outcomes.recorded.first?.failovers == 1)
        }
        try await Self.withGateway(ScriptedUpstream(script: script), backends: #"{ provider = "up", model = "smuggled" }"#) { port, outcomes in
            let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup)
            let answer = try await Self.chat(client, port: port)
            try await client.shutdown()
            #expect(answer.status == 502)
            #expect(answer.text.contains("\"error\""))
            #expect(try await Self.recorded(outcomes, count: 1).map(\.status) == [502])
        }
    }

    @Test func credentialsInTheBaseURLAreSentAsBasicAuthorization() async throws {
        let upstream = ScriptedUpstream { _ in .reply(cannedCompletion()) }
        try await Self.withGateway(upstream, host: "robot:p%40ss@127.0.0.1") { port, _ in
            let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup)
            let answer = try await Self.chat(client, port: port)
            try await client.shutdown()
            #expect(answer.status == 200)
            let head = try #require(upstream.chatRequests.first?.head.lowercased())
            #expect(head.contains("authorization: basic \(Data("robot:p@ss".utf8).base64EncodedString().lowercased())"))
            #expect(head.contains("host: 127.0.0.1:"))
        }
    }

    @Test func anEventLargerThanTheLimitEndsTheStreamWithAnError() async throws {
        let upstream = ScriptedUpstream { _ in
            .reply(
                "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\ndata: {\"a\":\""
                    + String(repeating: "y", count: 20_000))
        }
        try await Self.withGateway(upstream, options: { $0.connections.maxEventBytes = 4096 }) { port, outcomes in
            let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup)
            let answer = try await Self.chat(client, port: port, body: #"{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}"#)
            try await client.shutdown()
            #expect(answer.text.hasPrefix(#"data: {"error":"#))
            #expect(answer.text.contains("larger than 4096 bytes"))
            #expect(try await Self.recorded(outcomes, count: 1).first?.status == 502)
        }
    }

    @Test(arguments: ["", "{ temperature = 0.25 }", #"{ system_prompt = "Be brief." }"#])
    func numbersReachTheUpstreamExactlyAsTheClientWroteThem(params: String) async throws {
        let upstream = ScriptedUpstream { _ in .reply(cannedCompletion()) }
        try await Self.withGateway(upstream, params: params) { port, _ in
            let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup)
            let body = #"{"model":"m","seed":9007199254740993,"top_p":1.0e0,"messages":[{"role":"user","content":"hi"}],"n":1}"#
            let answer = try await Self.chat(client, port: port, body: body)
            try await client.shutdown()
            #expect(answer.status == 200)
            let sent = try #require(upstream.requests.last?.body)
            #expect(sent.contains(#""seed":9007199254740993"#))
            #expect(sent.contains(#""top_p":1.0e0"#))
            #expect(sent.contains(#""model":"upstream-m""#))
            if params.contains("temperature") { #expect(sent.contains(#""temperature":0.25"#)) }
            if params.contains("system_prompt") { #expect(sent.contains(#"{"role":"system","content":"Be brief."}"#)) }
        }
    }
}
