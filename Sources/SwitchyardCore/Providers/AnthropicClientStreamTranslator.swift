/// Translates OpenAI `chat.completion.chunk` events into Anthropic's message event stream, one
/// chunk at a time: `message_start` (and a `ping`) with the first chunk, a content block per text
/// run or tool call (`content_block_start`, `content_block_delta` with `text_delta` or
/// `input_json_delta`, `content_block_stop`), then `message_delta` with the stop reason and usage
/// and `message_stop` once the chat stream ends.
///
/// The relay hands every chunk's JSON to `translate`, calls `finish()` on `data: [DONE]`, and
/// ends a stream that breaks off with `AnthropicClientTranslation.errorEvent`. Input counts come
/// with the chat stream's usage chunk at the end, so `message_start` says 0 and `message_delta`
/// carries them all (Anthropic's SDKs take input counts from `message_delta` when present).
package struct AnthropicClientStreamTranslator: Sendable {
    private enum Block: Equatable {
        case text
        case tool(chatIndex: Int)
    }

    private let model: String?
    private var started = false
    package private(set) var finished = false
    /// The upstream's counts, once its usage chunk came.
    package private(set) var usage: TokenUsage?
    private var stopReason: JSONValue = "end_turn"
    /// The block receiving deltas, with its index.
    private var open: (index: Int, block: Block)?
    private var blockCount = 0
    /// Chat tool call index → content block index.
    private var toolBlocks: [Int: Int] = [:]

    /// `model` is the name the client sees in `message_start`; the upstream's when `nil`.
    package init(model: String? = nil) {
        self.model = model
    }

    /// The events for one chat completion chunk (given by its JSON data).
    package mutating func translate(_ chunk: JSONValue) -> [ServerSentEvent] {
        guard !finished else { return [] }
        if let error = chunk["error"], error != .null {
            finished = true
            return [AnthropicClientTranslation.errorEvent(status: 500, message: error["message"]?.stringValue ?? "The upstream stream failed.")]
        }
        var events: [ServerSentEvent] = []
        start(chunk, &events)
        if let usage = chunk["usage"], usage.objectValue != nil { self.usage = TokenUsage(chat: usage) }
        guard let choice = chunk["choices"]?.arrayValue?.first else { return events }
        if let text = choice["delta"]?["content"]?.stringValue, !text.isEmpty {
            if open?.block != .text { openBlock(.text, content: ["type": "text", "text": ""], &events) }
            events.append(delta(["type": "text_delta", "text": .string(text)]))
        }
        for call in choice["delta"]?["tool_calls"]?.arrayValue ?? [] {
            let chatIndex = call["index"]?.intValue(clampedTo: 0...1_000_000) ?? 0
            if toolBlocks[chatIndex] == nil {
                let id = call["id"]?.stringValue ?? "toolu_\(blockCount)"
                openBlock(
                    .tool(chatIndex: chatIndex),
                    content: ["type": "tool_use", "id": .string(id), "name": call["function"]?["name"] ?? "", "input": .object([:])], &events)
                toolBlocks[chatIndex] = open?.index
            }
            if let arguments = call["function"]?["arguments"]?.stringValue, !arguments.isEmpty, let index = toolBlocks[chatIndex] {
                // Chat backends stream one call after another; a late piece still names its own block.
                events.append(
                    event(
                        "content_block_delta",
                        ["index": .number(Double(index)), "delta": .object(["type": "input_json_delta", "partial_json": .string(arguments)])]))
            }
        }
        if let reason = choice["finish_reason"]?.stringValue { stopReason = AnthropicClientTranslation.stopReason(reason) }
        return events
    }

    /// The closing events, once the chat stream ended (`[DONE]`).
    package mutating func finish() -> [ServerSentEvent] {
        guard !finished else { return [] }
        var events: [ServerSentEvent] = []
        start(nil, &events)
        closeBlock(&events)
        events.append(
            event(
                "message_delta",
                [
                    "delta": .object(["stop_reason": stopReason, "stop_sequence": .null]),
                    "usage": (usage ?? TokenUsage(input: 0, output: 0)).anthropicJSON,
                ]))
        events.append(event("message_stop", [:]))
        finished = true
        return events
    }

    private mutating func start(_ chunk: JSONValue?, _ events: inout [ServerSentEvent]) {
        guard !started else { return }
        started = true
        let message: JSONValue = .object([
            "id": .string(AnthropicClientTranslation.messageID(chunk?["id"]?.stringValue)), "type": "message", "role": "assistant",
            "model": model.map(JSONValue.string) ?? chunk?["model"] ?? "", "content": .array([]), "stop_reason": .null, "stop_sequence": .null,
            "usage": TokenUsage(input: 0, output: 0).anthropicJSON,
        ])
        events.append(event("message_start", ["message": message]))
        events.append(event("ping", [:]))
    }

    private mutating func openBlock(_ block: Block, content: [String: JSONValue], _ events: inout [ServerSentEvent]) {
        closeBlock(&events)
        open = (blockCount, block)
        events.append(event("content_block_start", ["index": .number(Double(blockCount)), "content_block": .object(content)]))
        blockCount += 1
    }

    private mutating func closeBlock(_ events: inout [ServerSentEvent]) {
        guard let (index, _) = open else { return }
        open = nil
        events.append(event("content_block_stop", ["index": .number(Double(index))]))
    }

    private func delta(_ delta: [String: JSONValue]) -> ServerSentEvent {
        event("content_block_delta", ["index": .number(Double(open?.index ?? 0)), "delta": .object(delta)])
    }

    private func event(_ type: String, _ payload: [String: JSONValue]) -> ServerSentEvent {
        var data = payload
        data["type"] = .string(type)
        return ServerSentEvent(name: type, data: .object(data))
    }
}
