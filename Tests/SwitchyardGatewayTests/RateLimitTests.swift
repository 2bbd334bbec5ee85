import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Testing

@testable import SwitchyardGateway

@Suite(.serialized) struct RateLimitTests {
    @Test func oneHundredPerMinuteAdmitsExactlyOneHundredOfThreeHundredConcurrentRequests() async throws {
        try await GatewayHarness.withGateway { gateway in
            let statuses = try await withThrowingTaskGroup(of: (Int, HTTPHeaders).self) { group in
                for _ in 0..<300 {
                    group.addTask {
                        let response = try await gateway.post("/v1/chat/completions", json: chatBody(model: "mock"), token: "sk-limited-user")
                        _ = try await response.body.collect(upTo: 1 << 20)
                        return (Int(response.status.code), response.headers)
                    }
                }
                var results: [(Int, HTTPHeaders)] = []
                for try await result in group { results.append(result) }
                return results
            }
            #expect(statuses.filter { $0.0 == 200 }.count == 100)
            #expect(statuses.filter { $0.0 == 429 }.count == 200)
            let refused = try #require(statuses.first { $0.0 == 429 }?.1)
            #expect(refused.first(name: "retry-after").flatMap(Int.init).map { (1...60).contains($0) } == true)
            #expect(refused.first(name: "x-ratelimit-limit-requests") == "100")
            #expect(refused.first(name: "x-ratelimit-remaining-requests") == "0")
            let admitted = try #require(statuses.first { $0.0 == 200 }?.1)
            #expect(admitted.first(name: "x-ratelimit-limit-requests") == "100")
            #expect(admitted.first(name: "x-ratelimit-reset-requests") != nil)

            let error = try await gateway.post("/v1/chat/completions", json: chatBody(model: "mock"), token: "sk-limited-user")
            #expect(try await error.errorObject()["code"] as? String == "rate_limit_exceeded")
            let unlimited = try await gateway.post("/v1/chat/completions", json: chatBody(model: "ok"))
            #expect(unlimited.status == .ok && unlimited.headers.first(name: "x-ratelimit-limit-requests") == nil)
        }
    }
}
