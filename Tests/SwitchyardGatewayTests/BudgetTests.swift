import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import SwitchyardCore
import Testing

@testable import SwitchyardGateway

@Suite(.serialized) struct BudgetTests {
    @Test func aUserIsRefusedOnceTheRecordedSpendReachesTheCap() async throws {
        try await GatewayHarness.withGateway { gateway in
            // Each `ok` answer costs (7 × 1000 + 2 × 2000) / 1e6 = 0.011 USD; the daily cap is 0.01.
            let first = try await gateway.post("/v1/chat/completions", json: chatBody(model: "ok"), token: "sk-spender-user")
            #expect(first.status == .ok, "under the cap: served, and counted in full")
            let second = try await gateway.post("/v1/chat/completions", json: chatBody(model: "ok"), token: "sk-spender-user")
            #expect(second.status == .tooManyRequests)
            let error = try await second.errorObject()
            #expect(error["code"] as? String == "insufficient_quota" && error["type"] as? String == "insufficient_quota")
            #expect((error["message"] as? String)?.contains("daily budget") == true)
            #expect(try await gateway.post("/v1/chat/completions", json: chatBody(model: "ok")).status == .ok, "other users are unaffected")
        }
    }

    @Test func aStreamCutByTheClientIsStillBilled() async throws {
        try await GatewayHarness.withGateway { gateway in
            let reader = Task {
                let response = try await gateway.post(
                    "/v1/chat/completions", json: chatBody(model: "slow-stream", stream: true), token: "sk-spender-user")
                for try await _ in response.body { break }
            }
            try await reader.value
            let cut = try #require(try await gateway.outcome { $0.userID == "spender" && $0.status == 499 })
            #expect(cut.inputTokens > 0 && cut.outputTokens >= 1, "estimated usage: prompt plus one token per relayed event")
            #expect(cut.costUSD > 0)
        }
    }

    @Test func spendRollsOverAtUTCDayAndMonth() {
        let lastSecondOfMarch = 1_775_001_599.0  // 2026-03-31T23:59:59Z
        var spend = Spend(periods: BudgetPeriods(at: lastSecondOfMarch))
        spend.add(3, at: lastSecondOfMarch)
        #expect(spend.day == 3 && spend.month == 3)
        #expect(spend.exceeded(BudgetSpec(dailyUSD: 3))?.period == "daily")
        spend.add(1, at: lastSecondOfMarch + 1)
        #expect(spend.day == 1 && spend.month == 1, "1 April: a new day and a new month")
        spend.add(1, at: lastSecondOfMarch + 86_401)
        #expect(spend.day == 1 && spend.month == 2, "2 April: a new day, the same month")
        #expect(spend.exceeded(BudgetSpec(dailyUSD: 5, monthlyUSD: 2))?.period == "monthly")
        #expect(spend.exceeded(BudgetSpec(dailyUSD: 5, monthlyUSD: 3)) == nil)
    }
}
