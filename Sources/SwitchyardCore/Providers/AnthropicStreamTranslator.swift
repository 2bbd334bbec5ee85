/// Translates Anthropic's message event stream into OpenAI `chat.completion.chunk` events, one
/// event at a time: nothing waits for the end of the answer.
package struct AnthropicStreamTranslator: Sendable {
    private var id = ""
    private var model = ""
    private let created: Int
    private let includeUsage: Bool
    /// The counts so far: input from `message_start`, output from `message_delta`.
    package private(set) var usage = TokenUsage(input: 0, output: 0)
    /// Anthropic content block index → OpenAI tool call index.
    private var toolCallIndex: [Int: Int] = [:]
    private var finishReason: JSONValue = .null
    package private(set) var finished = false
    /// The OpenAI status and error body of an `error` event, once one came.
    package private(set) var failure: (status: Int, body: JSONValue)?

    package init(created: Int, includeUsage: Bool) {
        self.created = created
        self.includeUsage = includeUsage
    }

    /// The SSE `data:` payloads to send for one Anthropic event (given by its JSON data).
    package mutating func translate(_ event: JSONValue) -> [String] {
        switch event["type"]?.stringValue {
        case "message_start":
            let message = event["message"]
            id = message?["id"]?.stringValue ?? id
            model = message?["model"]?.stringValue ?? model
            usage.merge(anthropic: message?["usage"])
            return [chunk(delta: ["role": "assistant", "content": ""])]
        case "content_block_start":
            guard let block = event["content_block"], block["type"]?.stringValue == "tool_use",
                let index = event["index"]?.intValue(clampedTo: 0...1_000_000)
            else { return [] }
            let callIndex = toolCallIndex.count
            toolCallIndex[index] = callIndex
            return [
                chunk(delta: [
                    "tool_calls": .array([
                        .object([
                            "index": .number(Double(callIndex)), "id": block["id"] ?? .string(""), "type": "function",
                            "function": .object(["name": block["name"] ?? .string(""), "arguments": ""]),
                        ])
                    ])
                ])
            ]
        case "content_block_delta":
            let delta = event["delta"]
            switch delta?["type"]?.stringValue {
            case "text_delta":
                return [chunk(delta: ["content": delta?["text"] ?? .string("")])]
            case "input_json_delta":
                guard let index = event["index"]?.intValue(clampedTo: 0...1_000_000), let callIndex = toolCallIndex[index] else { return [] }
                return [
                    chunk(delta: [
                        "tool_calls": .array([
                            .object(["index": .number(Double(callIndex)), "function": .object(["arguments": delta?["partial_json"] ?? .string("")])])
                        ])
                    ])
                ]
            default:
                return []  // thinking and signature deltas have no OpenAI form
            }
        case "message_delta":
            usage.merge(anthropic: event["usage"])
            finishReason = AnthropicTranslation.finishReason(event["delta"]?["stop_reason"]?.stringValue)
            return [chunk(delta: [:], finishReason: finishReason)]
        case "message_stop":
            finished = true
            var events: [String] = []
            if includeUsage {
                events.append(
                    text([
                        "id": .string(id), "object": "chat.completion.chunk", "created": .number(Double(created)), "model": .string(model),
                        "choices": .array([]), "usage": usage.chatJSON,
                    ]))
            }
            return events + ["[DONE]"]
        case "error":
            // The stream ends here; the relay tells the client with an error event and no `[DONE]`.
            finished = true
            failure = AnthropicTranslation.error(status: AnthropicTranslation.status(ofErrorType: event["error"]?["type"]?.stringValue), body: event)
            return []
        default:
            return []  // ping and events added later
        }
    }

    private func chunk(delta: [String: JSONValue], finishReason: JSONValue = .null) -> String {
        text([
            "id": .string(id), "object": "chat.completion.chunk", "created": .number(Double(created)), "model": .string(model),
            "choices": .array([.object(["index": 0, "delta": .object(delta), "finish_reason": finishReason, "logprobs": .null])]),
        ])
    }

    private func text(_ object: [String: JSONValue]) -> String {
        String(decoding: JSONValue.object(object).jsonBytes, as: UTF8.self)
    }
}
