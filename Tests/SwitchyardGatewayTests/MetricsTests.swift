import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Testing

@testable import SwitchyardGateway

@Suite(.serialized) struct MetricsTests {
    @Test func metricsNameTheGenAIConventionsWithLowCardinalityLabels() async throws {
        try await GatewayHarness.withGateway { gateway in
            _ = try await gateway.post("/v1/chat/completions", json: chatBody(model: "ok"), headers: [("x-request-id", "req-secret-1")])
            _ = try await gateway.post("/v1/chat/completions", json: chatBody(model: "error-500"))
            _ = try await gateway.post("/v1/chat/completions", json: chatBody(model: "mock", stream: true)).text()
            try await Task.sleep(for: .milliseconds(100))
            let response = try await gateway.get("/metrics", token: nil)
            #expect(response.status == .ok)
            #expect(response.headers.first(name: "content-type")?.hasPrefix("text/plain") == true)
            let text = try await response.text()
            for name in [
                "gen_ai_server_request_duration_seconds_bucket", "gen_ai_server_time_to_first_token_seconds_bucket",
                "gen_ai_client_token_usage_bucket", "switchyard_requests_total", "switchyard_cost_usd_total", "switchyard_backend_up",
                "switchyard_circuit_state", "switchyard_release_weight",
            ] {
                #expect(text.contains(name), "\(name) is exported")
            }
            #expect(
                text.contains(
                    #"switchyard_requests_total{model="ok",version="v7",provider="up",backend="up/ok",status_class="2xx",role="primary"} 1"#))
            #expect(text.contains(#"status_class="5xx""#))
            #expect(text.contains(#"gen_ai_token_type="output""#))
            #expect(text.contains(#"switchyard_release_weight{model="ok",version="v7"} 100"#))
            #expect(!text.contains("tester") && !text.contains("req-secret-1"), "no user or request ids in labels")
        }
    }
}
