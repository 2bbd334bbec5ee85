import SwitchyardCore
import Testing

@testable import SwitchyardGateway

@Suite struct UsageReaderTests {
    func usage(_ text: String) -> TokenUsage? {
        Array(text.utf8).withUnsafeBytes { UsageReader.usage(in: $0) }
    }

    @Test func readsTheTopLevelUsage() {
        #expect(usage(#"{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}"#) == TokenUsage(input: 3, output: 4))
        #expect(usage(#"{"usage" : {"completion_tokens":4, "prompt_tokens":3}, "id":"x"}"#) == TokenUsage(input: 3, output: 4))
        #expect(usage(#"{"object":"list","usage":{"prompt_tokens":9,"total_tokens":9}}"#) == TokenUsage(input: 9, output: 0))
    }

    @Test func ignoresUsageInsideStringsAndNullUsage() {
        let tricky =
            #"{"usage":{"prompt_tokens":1,"completion_tokens":2},"choices":[{"message":{"content":"say \"usage\":{\"prompt_tokens\":99}"}}]}"#
        #expect(usage(tricky) == TokenUsage(input: 1, output: 2))
        #expect(usage(#"{"choices":[{"delta":{"content":"x"}}],"usage":null}"#) == nil)
        #expect(usage(#"{"choices":[]}"#) == nil)
    }

    @Test func fallsBackToAFullParseWhenTheLastUsageKeyIsNested() {
        let nested = #"{"usage":{"prompt_tokens":5,"completion_tokens":6},"extra":{"usage":"n/a"}}"#
        #expect(usage(nested) == TokenUsage(input: 5, output: 6))
    }

    @Test func recognisesTheUsageOnlyChunk() {
        func check(_ text: String) -> Bool { Array(text.utf8).withUnsafeBytes { UsageReader.isUsageOnlyChunk($0) } }
        #expect(check(#"{"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":1}}"#))
        #expect(!check(#"{"choices":[{"delta":{}}],"usage":{"prompt_tokens":1,"completion_tokens":1}}"#))
        #expect(!check(#"{"choices":[],"usage":null}"#))
    }

    @Test func readsAnAnthropicMessagesUsageWithItsCacheCounts() {
        let message =
            #"{"type":"message","content":[],"usage":{"input_tokens":10,"output_tokens":4,"cache_read_input_tokens":30,"cache_creation_input_tokens":5}}"#
        let read = Array(message.utf8).withUnsafeBytes { UsageReader.usage(in: $0, endpoint: .messages) }
        #expect(read == TokenUsage(input: 45, output: 4, cachedInput: 30, cacheWrite: 5))
        #expect(Array(#"{"input_tokens":12}"#.utf8).withUnsafeBytes { UsageReader.usage(in: $0, endpoint: .messages) } == nil)
    }

    @Test func mergesAnthropicStreamUsageFromStartAndDelta() throws {
        let start = try JSONValue.parse(
            Array(#"{"type":"message_start","message":{"usage":{"input_tokens":7,"output_tokens":1,"cache_read_input_tokens":3}}}"#.utf8))
        let delta = try JSONValue.parse(Array(#"{"type":"message_delta","delta":{},"usage":{"output_tokens":20}}"#.utf8))
        let ping = try JSONValue.parse(Array(#"{"type":"ping"}"#.utf8))
        var usage = UsageReader.merging(event: start, endpoint: .messages, into: nil)
        usage = UsageReader.merging(event: ping, endpoint: .messages, into: usage)
        usage = UsageReader.merging(event: delta, endpoint: .messages, into: usage)
        #expect(usage == TokenUsage(input: 10, output: 20, cachedInput: 3))
        #expect(UsageReader.merging(event: ping, endpoint: .messages, into: nil) == nil)
    }

    @Test func readsResponsesUsageFromTheCompletedEventAndTheWholeResponse() throws {
        let created = try JSONValue.parse(Array(#"{"type":"response.created","response":{"usage":null}}"#.utf8))
        let completed = try JSONValue.parse(
            Array(
                #"{"type":"response.completed","response":{"usage":{"input_tokens":40,"input_tokens_details":{"cached_tokens":32},"output_tokens":5}}}"#
                    .utf8))
        #expect(UsageReader.merging(event: created, endpoint: .responses, into: nil) == nil)
        #expect(UsageReader.merging(event: completed, endpoint: .responses, into: nil) == TokenUsage(input: 40, output: 5, cachedInput: 32))
        let whole = #"{"object":"response","usage":{"input_tokens":3,"output_tokens":4,"input_tokens_details":{"cached_tokens":0}}}"#
        #expect(Array(whole.utf8).withUnsafeBytes { UsageReader.usage(in: $0, endpoint: .responses) } == TokenUsage(input: 3, output: 4))
    }

    @Test func readsCachedPromptTokensFromTheDetails() {
        let openAI =
            #"{"choices":[],"usage":{"prompt_tokens":1200,"completion_tokens":9,"prompt_tokens_details":{"cached_tokens":1024,"audio_tokens":0}}}"#
        #expect(usage(openAI) == TokenUsage(input: 1200, output: 9, cachedInput: 1024))
        let written = #"{"usage":{"prompt_tokens":50,"completion_tokens":2,"prompt_tokens_details":{"cached_tokens":0,"cache_write_tokens":40}}}"#
        #expect(usage(written) == TokenUsage(input: 50, output: 2, cacheWrite: 40))
    }

    @Test func pricesCacheReadsAndWritesApartWhenTheProviderSetsPrices() {
        var provider = ProviderSpec(id: "p", format: .openai, costInputPerMillionTokens: 2, costOutputPerMillionTokens: 8)
        let usage = TokenUsage(input: 1_000_000, output: 1_000_000, cachedInput: 500_000, cacheWrite: 100_000)
        #expect(usage.cost(for: provider) == 10, "without cache prices, cached tokens are plain input")
        provider.costCachedInputPerMillionTokens = 0.5
        provider.costCacheWritePerMillionTokens = 2.5
        #expect(abs(usage.cost(for: provider) - (0.4 * 2 + 0.5 * 0.5 + 0.1 * 2.5 + 8)) < 1e-9)
        #expect(TokenUsage(input: 10, output: 0, cachedInput: 50).cost(for: provider) == 10 * 0.5 / 1_000_000, "counts never go negative")
    }
}
