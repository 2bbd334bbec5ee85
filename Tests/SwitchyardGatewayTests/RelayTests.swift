import AsyncHTTPClient
import Foundation
import HTTPTypes
import NIOCore
import NIOHTTP1
import SwitchyardCore
import Testing

@testable import SwitchyardGateway

@Suite(.serialized) struct RelayTests {
    @Test func plainAnswersPassThroughWithRoutingHeadersAndRewrittenRequest() async throws {
        try await GatewayHarness.withGateway { gateway in
            let response = try await gateway.post(
                "/v1/chat/completions", json: chatBody(model: "ok", extra: #","temperature":1.5,"top_p":0.9"#),
                headers: [
                    ("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"), ("cookie", "session=1"),
                    ("x-request-id", "client-id-1"),
                ])
            #expect(response.status == .ok)
            #expect(response.headers.first(name: "x-switchyard-version") == "v7")
            #expect(response.headers.first(name: "x-switchyard-backend") == "up/ok")
            #expect(response.headers.first(name: "x-request-id") == "client-id-1")
            #expect(try await response.text().contains(#""content":"hello""#))

            let sent = try #require(gateway.upstream.requests.last)
            #expect(sent.path == "/v1/chat/completions")
            #expect(sent.json["model"] as? String == "ok")
            #expect(sent.json["temperature"] as? Double == 0.25, "version params replace the client's value")
            #expect(sent.json["max_tokens"] as? Int == 42)
            #expect(sent.json["top_p"] as? Double == 0.9, "fields the version does not set pass through")
            #expect(sent.headers[values: HTTPField.Name("authorization")!] == ["Bearer upstream-secret"], "the provider's key, not the client's")
            #expect(sent.headers[HTTPField.Name("x-provider")!] == "extra")
            #expect(sent.headers[HTTPField.Name("traceparent")!] != nil)
            #expect(sent.headers[HTTPField.Name("cookie")!] == nil, "client headers outside the allow-list stay at the gateway")
            #expect(sent.headers[HTTPField.Name("x-request-id")!] == "client-id-1")

            let outcome = try #require(try await gateway.outcome { $0.requestID == "client-id-1" })
            #expect(outcome.status == 200)
            #expect(outcome.inputTokens == 7 && outcome.outputTokens == 2)
            #expect(abs(outcome.costUSD - (7 * 1000 + 2 * 2000) / 1_000_000) < 1e-9)
            #expect(outcome.version == "v7" && outcome.backend == "up/ok" && outcome.userID == "tester")
        }
    }

    @Test func streamsReachTheClientAsTheUpstreamSendsThem() async throws {
        try await GatewayHarness.withGateway { gateway in
            let started = ContinuousClock.now
            let response = try await gateway.post("/v1/chat/completions", json: chatBody(model: "slow-stream", stream: true))
            #expect(response.status == .ok)
            #expect(response.headers.first(name: "content-type") == "text/event-stream")
            #expect(response.headers.first(name: "cache-control") == "no-cache")
            #expect(response.headers.first(name: "x-accel-buffering") == "no")
            var arrivals: [Duration] = []
            var text = ""
            for try await chunk in response.body {
                arrivals.append(ContinuousClock.now - started)
                text += String(buffer: chunk)
            }
            // The upstream waits 200 ms between its five chunks: a buffering relay would deliver
            // everything at once at the end; a streaming one delivers the first chunk ~800 ms earlier.
            let first = try #require(arrivals.first)
            let last = try #require(arrivals.last)
            #expect(last - first >= .milliseconds(600), "chunks arrived spread over time: \(arrivals)")
            #expect(arrivals.count >= 4)
            #expect(text.contains("one ") && text.contains("five") && text.hasSuffix("data: [DONE]\n\n"))
            #expect(!text.contains("\"usage\""), "the usage chunk the gateway asked for is dropped when the client did not ask")

            let sent = try #require(gateway.upstream.requests.last)
            #expect((sent.json["stream_options"] as? [String: Any])?["include_usage"] as? Bool == true)
            let outcome = try #require(try await gateway.outcome { $0.model == "slow-stream" })
            #expect(outcome.status == 200 && outcome.stream)
            #expect(outcome.inputTokens == 11 && outcome.outputTokens == 5, "usage is counted from the stream")
            #expect((outcome.timeToFirstTokenMilliseconds ?? .infinity) < outcome.latencyMilliseconds - 500)
        }
    }

    @Test func theUsageChunkIsKeptWhenTheClientAsksForIt() async throws {
        try await GatewayHarness.withGateway { gateway in
            let response = try await gateway.post("/v1/chat/completions", json: chatBody(model: "ok", stream: true, includeUsage: true))
            let text = try await response.text()
            #expect(text.contains(#""usage":{"prompt_tokens":11"#))
            #expect(text.hasSuffix("data: [DONE]\n\n"))
        }
    }

    @Test func aStreamCutMidAnswerEndsWithAnErrorEventAndNoDone() async throws {
        try await GatewayHarness.withGateway { gateway in
            let response = try await gateway.post("/v1/chat/completions", json: chatBody(model: "cut-stream", stream: true))
            #expect(response.status == .ok)
            let text = try await response.text()
            #expect(text.contains("one ") && text.contains("two "))
            #expect(!text.contains("[DONE]"))
            let lastEvent = try #require(text.split(separator: "\n\n").last)
            #expect(lastEvent.hasPrefix(#"data: {"error":"#))
            let outcome = try #require(try await gateway.outcome { $0.model == "cut-stream" })
            #expect(outcome.status == 502)
        }
    }

    /// An answer that quotes `data: [DONE]` in its text has not ended: only a line of the event is its end.
    @Test func aStreamThatEndsAfterTextQuotingTheEndMarkerStillEndsWithAnErrorEvent() async throws {
        try await GatewayHarness.withGateway { gateway in
            let response = try await gateway.post("/v1/chat/completions", json: chatBody(model: "end-after-done-text", stream: true))
            #expect(response.status == .ok)
            let text = try await response.text()
            #expect(text.contains(#""content":"data: [DONE] ""#))
            let lastEvent = try #require(text.split(separator: "\n\n").last)
            #expect(lastEvent.hasPrefix(#"data: {"error":"#))
            let outcome = try #require(try await gateway.outcome { $0.model == "end-after-done-text" })
            #expect(outcome.status == 502)
        }
    }

    @Test func upstreamJSONErrorsKeepTheirStatusAndOtherErrorsBecome502() async throws {
        try await GatewayHarness.withGateway { gateway in
            let error500 = try await gateway.post("/v1/chat/completions", json: chatBody(model: "error-500"))
            #expect(error500.status == .internalServerError)
            #expect(error500.headers.first(name: "x-switchyard-backend") == "up/error-500")
            #expect(try await error500.errorObject()["message"] as? String == "upstream broke")

            let html = try await gateway.post("/v1/chat/completions", json: chatBody(model: "html-502"))
            #expect(html.status == .badGateway)
            #expect(html.headers.first(name: "x-switchyard-backend") == "up/html-502")
            #expect(try await html.errorObject()["code"] as? String == "bad_upstream_response")
        }
    }

    @Test func anUnreachableUpstreamIs502AndASilentOneIs504() async throws {
        try await GatewayHarness.withGateway { gateway in
            let started = ContinuousClock.now
            let gone = try await gateway.post("/v1/chat/completions", json: chatBody(model: "gone"))
            #expect(gone.status == .badGateway)
            #expect(try await gone.errorObject()["code"] as? String == "upstream_unreachable")
            #expect(ContinuousClock.now - started < .seconds(2), "a refused connection is not retried until the connect timeout")

            let stall = try await gateway.post("/v1/chat/completions", json: chatBody(model: "stall"))
            #expect(stall.status == .gatewayTimeout)
            #expect(try await stall.errorObject()["code"] as? String == "upstream_timeout")
            #expect(try await gateway.outcome { $0.model == "stall" }?.status == 504)
        }
    }

    @Test func aClientThatLeavesMidStreamIsRecorded() async throws {
        try await GatewayHarness.withGateway { gateway in
            let reader = Task {
                let response = try await gateway.post("/v1/chat/completions", json: chatBody(model: "slow-stream", stream: true))
                for try await _ in response.body { break }
            }
            try await reader.value
            let outcome = try await gateway.outcome { $0.model == "slow-stream" }
            #expect(outcome?.status == 499)
        }
    }

    @Test func embeddingsAreRelayedWithUsage() async throws {
        try await GatewayHarness.withGateway { gateway in
            let response = try await gateway.post("/v1/embeddings", json: #"{"model":"ok","input":"hello"}"#)
            #expect(response.status == .ok)
            #expect(try await response.text().contains("embedding"))
            #expect(gateway.upstream.requests.last?.path == "/v1/embeddings")
            #expect(try await gateway.outcome { $0.endpoint == "embeddings" }?.inputTokens == 3)
        }
    }

    @Test func theMockStreamsAndReportsUsage() async throws {
        try await GatewayHarness.withGateway { gateway in
            let response = try await gateway.post("/v1/chat/completions", json: chatBody(model: "mock", stream: true, includeUsage: true))
            let text = try await response.text()
            #expect(text.contains(MockUpstream.fingerprint))
            #expect(text.contains(#""usage":{"#) && text.hasSuffix("data: [DONE]\n\n"))
            let outcome = try #require(try await gateway.outcome { $0.model == "mock" })
            #expect(outcome.outputTokens > 0 && outcome.backend == "sim/m")
        }
    }
}
