import Foundation
import NIOCore
import Testing

@testable import SwitchyardGateway

/// One connection's order as HTTP/1.1 wants it, kept by the front door: pipelined requests answered
/// in turn whoever serves them, a parse error answered after the answers before it, a client that
/// half-closes still answered, and a shutdown that closes idle connections at once and busy ones
/// after their answer.
@Suite struct PipeliningTests {
    /// An upstream that answers each chat with the `req-N` marker of its request, after `slowMs`
    /// for a request whose marker is `req-0`.
    static func markerEchoingUpstream(slowMs: Int64 = 300) -> ScriptedUpstream {
        ScriptedUpstream { request in
            guard let marker = marker(in: request.body) else { return .reply(cannedCompletion()) }
            let answer = completion(saying: marker)
            return marker == "req-0" ? .delayed(milliseconds: slowMs, answer) : .reply(answer)
        }
    }

    static func marker(in text: String) -> String? {
        guard let start = text.range(of: "req-") else { return nil }
        return "req-" + text[start.upperBound...].prefix(while: \.isNumber)
    }

    static func completion(saying text: String) -> String {
        let body =
            #"{"id":"c1","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"\#(text)"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}"#
        return "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: \(body.utf8.count)\r\n\r\n" + body
    }

    static func chat(_ marker: String) -> String {
        RequestPathTests.rawChat(body: #"{"model":"m","messages":[{"role":"user","content":"\#(marker)"}]}"#)
    }

    /// The answers that arrived, split at their status lines, once `count` whole ones have come or
    /// the connection closed (bounded by `seconds` per read).
    static func answers(from client: RawClient, count: Int, seconds: Double = 10) async -> (answers: [String], closed: Bool) {
        var text = ""
        var closed = false
        func split() -> [String] { text.components(separatedBy: "HTTP/1.1 ").dropFirst().map { "HTTP/1.1 " + $0 } }
        for _ in 0..<(count * 8) {
            let answers = split()
            if closed || (answers.count >= count && answers.last.map { RawClient.holdsWholeAnswer(Array($0.utf8)) } == true) { break }
            let read = await client.read(for: seconds)
            text += read.text
            closed = read.closed
        }
        return (split(), closed)
    }

    @Test func pipelinedRequestsAreAnsweredInTheirOrderWhoeverServesThem() async throws {
        try await RequestPathTests.withGateway(Self.markerEchoingUpstream()) { port, _ in
            let client = try RawClient(port: port)
            // The first waits 300 ms at the upstream; Hummingbird's, the model list and the later chats must wait for it.
            let requests =
                [
                    Self.chat("req-0"), "GET /health HTTP/1.1\r\nhost: x\r\n\r\n", Self.chat("req-1"),
                    "GET /v1/models HTTP/1.1\r\nhost: x\r\nauthorization: Bearer \(RequestPathTests.token)\r\n\r\n",
                ] + (2..<6).map { Self.chat("req-\($0)") }
            client.send(requests.joined())
            let (answers, closed) = await Self.answers(from: client, count: requests.count)
            #expect(!closed)
            try #require(answers.count == requests.count, "\(answers)")
            #expect(answers.allSatisfy { $0.hasPrefix("HTTP/1.1 200") }, "\(answers)")
            #expect(answers[0].contains(#""content":"req-0""#))
            #expect(answers[1].contains(#"{"status":"ok"}"#))
            #expect(answers[2].contains(#""content":"req-1""#))
            #expect(answers[3].contains(#""object":"list""#))
            for (index, marker) in (2..<6).enumerated() {
                #expect(answers[4 + index].contains(#""content":"req-\#(marker)""#), "\(answers[4 + index])")
            }
            // The connection still serves one request at a time afterwards.
            client.send(Self.chat("req-7"))
            #expect(await client.read(for: 10).text.contains(#""content":"req-7""#))
        }
    }

    @Test func aRequestPipelinedBehindAStreamIsAnsweredAfterTheStreamEnds() async throws {
        let event = #"data: {"choices":[{"index":0,"delta":{"content":"x"}}]}"# + "\n\n"
        let upstream = ScriptedUpstream { request in
            request.body.contains(#""stream":true"#) ? .flood(event: event, events: 300) : .reply(Self.completion(saying: "req-1"))
        }
        try await RequestPathTests.withGateway(upstream) { port, _ in
            let client = try RawClient(port: port)
            client.send(RequestPathTests.rawChat(stream: true) + Self.chat("req-1"))
            let (answers, closed) = await Self.answers(from: client, count: 2, seconds: 3)
            #expect(!closed)
            try #require(answers.count == 2, "\(answers.map { $0.prefix(200) })")
            #expect(answers[0].hasPrefix("HTTP/1.1 200") && answers[0].contains("text/event-stream"))
            #expect(answers[0].hasSuffix("0\r\n\r\n") && answers[0].contains("data: [DONE]"))
            #expect(answers[0].components(separatedBy: "\"content\":\"x\"").count - 1 == 300)
            #expect(answers[1].hasPrefix("HTTP/1.1 200") && answers[1].contains(#""content":"req-1""#))
        }
    }

    @Test func requestsBehindARefusedOneAreDroppedWithTheConnection() async throws {
        let upstream = Self.markerEchoingUpstream()
        try await RequestPathTests.withGateway(upstream, options: { $0.maxBodyBytes = 200 }) { port, _ in
            let client = try RawClient(port: port)
            let large = Self.chat("req-2" + String(repeating: " ", count: 300))
            client.send(large + Self.chat("req-3"))
            let (answers, closed) = await Self.answers(from: client, count: 2, seconds: 2)
            try #require(answers.count == 1, "\(answers)")
            #expect(answers[0].hasPrefix("HTTP/1.1 413") && answers[0].lowercased().contains("connection: close"))
            let closedAfter = await client.read(for: 10).closed
            #expect(closed || closedAfter)
            #expect(upstream.chatRequests.isEmpty)
        }
    }

    @Test func aMalformedRequestBehindAnotherIsRefusedAfterItsAnswer() async throws {
        try await RequestPathTests.withGateway(Self.markerEchoingUpstream()) { port, _ in
            let client = try RawClient(port: port)
            client.send(Self.chat("req-0") + "NOT HTTP AT ALL\r\n\r\n")
            let (answers, closed) = await Self.answers(from: client, count: 2)
            try #require(answers.count == 2, "\(answers)")
            #expect(answers[0].hasPrefix("HTTP/1.1 200") && answers[0].contains(#""content":"req-0""#))
            #expect(answers[1].hasPrefix("HTTP/1.1 400"))
            let closedAfter = await client.read(for: 10).closed
            #expect(closed || closedAfter)
        }
    }

    @Test func aClientThatHalfClosesAfterItsRequestStillGetsTheAnswer() async throws {
        try await RequestPathTests.withGateway(Self.markerEchoingUpstream()) { port, _ in
            let client = try RawClient(port: port)
            client.send(Self.chat("req-0"))
            client.finishSending()
            let answer = await client.read(for: 10)
            #expect(answer.text.hasPrefix("HTTP/1.1 200"))
            #expect(answer.text.contains(#""content":"req-0""#))
            let closedAfter = await client.read(for: 10).closed
            #expect(answer.closed || closedAfter)
        }
    }

    @Test func shutdownClosesIdleConnectionsAtOnceAndBusyOnesAfterTheirAnswer() async throws {
        let upstream = Self.markerEchoingUpstream(slowMs: 800)
        let upstreamPort = try await upstream.start()
        defer { Task { await upstream.stop() } }
        let options = RequestPathTests.options { $0.connections.idleTimeout = .seconds(60) }
        try await GatewayHarness.runGateway(
            seed: RequestPathTests.seed(upstreamPort: upstreamPort), options: options, logger: RequestPathTests.logger
        ) {
            port, _, shutDown in
            let idle = try RawClient(port: port)
            idle.send(Self.chat("req-1"))
            #expect(await idle.read(for: 10).text.hasPrefix("HTTP/1.1 200"))
            let busy = try RawClient(port: port)
            busy.send(Self.chat("req-0"))
            for _ in 0..<500 where !upstream.chatRequests.contains(where: { $0.body.contains("req-0") }) {
                try await Task.sleep(for: .milliseconds(10))
            }
            let stopping = Task { await shutDown() }
            let idleEnd = await idle.read(for: 10)
            #expect(idleEnd.closed && idleEnd.text.isEmpty, "an idle keep-alive connection outlived the shutdown")
            let answer = await busy.read(for: 10)
            #expect(answer.text.hasPrefix("HTTP/1.1 200"))
            #expect(answer.text.contains(#""content":"req-0""#))
            #expect(answer.text.lowercased().contains("connection: close"))
            let closedAfter = await busy.read(for: 10).closed
            #expect(answer.closed || closedAfter)
            await stopping.value
        }
    }
}
