import Foundation
import GRDB
import Logging
import Testing

@testable import SwitchyardCore
@testable import SwitchyardStore

/// Shadow copies in the store: kept out of usage, budgets and rollups, joined with their primaries,
/// and only the kept examples that differ most. SQLite's and the in-memory repository's answers agree.
@Suite struct ShadowStoreTests {
    static func primary(_ index: Int) -> OutcomeEvent {
        OutcomeEvent(
            time: 1_800_000_000 + Double(index), requestID: "r\(index)", userID: "alice", model: "chat", version: "v1", backend: "demo/a",
            endpoint: "chat/completions", status: 200, stream: false, latencyMilliseconds: 100, inputTokens: 10, outputTokens: 10,
            costUSD: 0.001)
    }

    /// The copy of request `index`: every third fails; the others answer with text of falling likeness.
    static func copy(_ index: Int) -> OutcomeEvent {
        var event = OutcomeEvent(
            time: 1_800_000_000 + Double(index), requestID: "r\(index)", userID: "alice", model: "chat", version: "v2", backend: "demo/b",
            endpoint: "chat/completions", status: index % 3 == 0 ? 500 : 200, stream: false, latencyMilliseconds: 200, inputTokens: 10,
            outputTokens: 30, costUSD: 0.01)
        event.shadow = true
        if index % 3 != 0 {
            let words = ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]
            event.agreement = ShadowAgreement(
                primary: words.joined(separator: " "), shadow: (words.prefix(10 - index % 10) + ["other"]).joined(separator: " "),
                keepExamples: 2)
        }
        return event
    }

    static var events: [OutcomeEvent] { (0..<12).flatMap { [primary($0), copy($0)] } }

    @Test(arguments: StoreKind.allCases) func copiesAreJoinedWithTheirPrimariesAndKeptApart(_ kind: StoreKind) async throws {
        let database = try await StoreUnderTest.make(kind)
        let store = database.store
        let writer = database.makeWriter()
        let memory = InMemoryOutcomeSink()
        for event in Self.events {
            writer.record(event)
            memory.record(event)
        }
        try await writer.flush()
        for repository in [store as any ShadowRepository & UsageRepository, memory] {
            let pairs = try await repository.shadowPairs(model: "chat", version: "v2", since: 0, limit: 100)
            #expect(pairs.count == 12 && pairs.allSatisfy { $0.primary?.latencyMilliseconds == 100 })
            let comparison = ShadowComparison(pairs)
            #expect(comparison.shadow.errors == 4 && comparison.primary.errors == 0 && comparison.agreement.compared == 8)
            #expect(try await repository.shadowPairs(model: "chat", version: "v2", since: 1_800_000_010, limit: 100).count == 2)
            #expect(try await repository.shadowPairs(model: "chat", version: "v2", since: 0, limit: 3).count == 3)

            let examples = try await repository.shadowExamples(model: "chat", version: "v2", limit: 100)
            #expect(examples.count == 2, "keep_examples pairs are kept")
            #expect(examples.first?.similarity == examples.map(\.similarity).min(), "least alike first")

            #expect(try await repository.spendByUser(since: 0)["alice"].map { abs($0 - 0.012) < 1e-9 } == true, "copies cost the user nothing")
            let mine = try await repository.usage(UsageQuery(user: "alice", groupBy: .user))
            #expect(mine.map(\.requests) == [12] && mine.allSatisfy { !$0.shadow })
            let byVersion = try await repository.usage(UsageQuery(groupBy: .version))
            #expect(byVersion.map(\.key) == ["chat/v1", "chat/v2"] && byVersion.map(\.shadow) == [false, true])
        }
        let rolledUp = try await database.int("SELECT CAST(SUM(requests) AS BIGINT) FROM rollup_minute")
        #expect(rolledUp == 12, "the rollups hold the served traffic only")
    }
}
