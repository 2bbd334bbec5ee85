import AsyncHTTPClient
import Foundation
import HTTPTypes
import NIOCore
import NIOHTTP1
import SwitchyardCore
import Testing

@testable import SwitchyardGateway

@Suite(.serialized) struct KeepAliveAndTraceTests {
    /// The upstream waits 600 ms, three times the 200 ms keep-alive interval.
    static let settings = "stream_keepalive_seconds = 0.2"

    @Test(arguments: ["late-head", "late-token"])
    func quietStreamsGetKeepAliveCommentsBetweenEventsOnly(model: String) async throws {
        try await GatewayHarness.withGateway(settings: Self.settings) { gateway in
            let response = try await gateway.post("/v1/chat/completions", json: chatBody(model: model, stream: true))
            #expect(response.status == .ok)
            #expect(response.headers.first(name: "content-type") == "text/event-stream")
            let text = try await response.text()
            let events = text.components(separatedBy: "\n\n").filter { !$0.isEmpty }
            let comments = events.filter { $0 == ": keep-alive" }
            #expect(comments.count >= 2, "\(model): \(text)")
            let firstData = try #require(events.firstIndex { $0.hasPrefix("data: ") })
            #expect(events[..<firstData].allSatisfy { $0 == ": keep-alive" }, "comments come before the first event, never inside one")
            #expect(events.last == "data: [DONE]", "no comment after the stream ended")
            #expect(events.filter { $0.hasPrefix("data: {") }.count == 5)
        }
    }

    @Test func everyRequestOnOneConnectionIsAuthenticatedByItsOwnToken() async throws {
        // A proxy in front of the gateway may carry several users' requests on one connection.
        try await GatewayHarness.withGateway { gateway in
            for (token, status) in [
                (GatewayHarness.userToken, HTTPResponseStatus.ok), ("sk-limited-user", .ok), ("sk-test-usex", .unauthorized),
                (GatewayHarness.userToken, .ok), (GatewayHarness.userToken + "x", .unauthorized),
            ] {
                let response = try await gateway.post("/v1/chat/completions", json: chatBody(model: "mock"), token: token)
                #expect(response.status == status, "\(token)")
                _ = try await response.text()
            }
        }
    }

    @Test func aKeepAliveStreamWhoseAttemptsAllFailEndsWithAnErrorEvent() async throws {
        try await GatewayHarness.withGateway(settings: "stream_keepalive_seconds = 0.1") { gateway in
            // `stall` waits 3 s; its provider's deadline is 0.5 s: the client already has its 200.
            let response = try await gateway.post("/v1/chat/completions", json: chatBody(model: "stall", stream: true))
            #expect(response.status == .ok)
            let text = try await response.text()
            #expect(text.hasPrefix(": keep-alive\n\n"))
            #expect(text.contains(#"data: {"error":"#) && !text.contains("[DONE]"))
        }
    }

    @Test func traceContextIsContinuedUpstreamAndReturned() async throws {
        try await GatewayHarness.withGateway { gateway in
            let incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
            let response = try await gateway.post(
                "/v1/chat/completions", json: chatBody(model: "ok"), headers: [("traceparent", incoming), ("tracestate", "vendor=1")])
            let returned = try #require(response.headers.first(name: "traceparent").flatMap(TraceContext.init(traceparent:)))
            #expect(returned.traceID == "4bf92f3577b34da6a3ce929d0e0e4736")
            #expect(returned.spanID != "00f067aa0ba902b7", "the response names the gateway's own span")
            let sent = try #require(gateway.upstream.requests.last)
            let upstream = try #require(sent.headers[HTTPField.Name("traceparent")!].flatMap(TraceContext.init(traceparent:)))
            #expect(upstream.traceID == returned.traceID && upstream.spanID != returned.spanID && upstream.spanID != "00f067aa0ba902b7")
            #expect(sent.headers[HTTPField.Name("tracestate")!] == "vendor=1")
            #expect(try await gateway.outcome { $0.model == "ok" }?.traceID == "4bf92f3577b34da6a3ce929d0e0e4736")

            let fresh = try await gateway.post("/v1/chat/completions", json: chatBody(model: "ok"), headers: [("traceparent", "garbage")])
            let started = try #require(fresh.headers.first(name: "traceparent").flatMap(TraceContext.init(traceparent:)))
            #expect(started.traceID != "4bf92f3577b34da6a3ce929d0e0e4736" && started.flags == "01")
        }
    }
}
