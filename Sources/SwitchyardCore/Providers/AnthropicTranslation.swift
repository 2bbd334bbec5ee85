import Foundation

/// A client request an upstream format cannot express, reported to the client as a 400 naming the parameter.
package struct TranslationError: Error, Sendable, Hashable {
    package var message: String
    package var param: String?

    package init(_ message: String, param: String? = nil) {
        self.message = message
        self.param = param
    }
}

/// OpenAI chat completions ⇄ Anthropic's Messages API (`POST /v1/messages`, version `2023-06-01`).
package enum AnthropicTranslation {
    package static let apiVersion = "2023-06-01"
    /// `max_tokens` is required by Anthropic; used when the client sets none.
    package static let defaultMaxTokens = 4_096

    // MARK: Request

    /// The Messages API body for an OpenAI chat completion body.
    package static func request(from body: [String: JSONValue], model: String, stream: Bool) throws(TranslationError) -> JSONValue {
        var system: [String] = []
        var messages: [(role: String, blocks: [JSONValue])] = []
        func append(_ role: String, _ blocks: [JSONValue]) {
            guard !blocks.isEmpty else { return }
            // Anthropic wants user and assistant turns to alternate: consecutive turns of one role merge.
            if let last = messages.last, last.role == role {
                messages[messages.count - 1].blocks += blocks
            } else {
                messages.append((role, blocks))
            }
        }
        for (index, message) in (body["messages"]?.arrayValue ?? []).enumerated() {
            let param = "messages[\(index)]"
            guard case .object = message, let role = message["role"]?.stringValue else {
                throw TranslationError("each message needs a string 'role'", param: "\(param).role")
            }
            switch role {
            case "system", "developer":
                let text = try plainText(message["content"], param: "\(param).content")
                if !text.isEmpty { system.append(text) }
            case "user":
                append("user", try contentBlocks(message["content"], param: "\(param).content"))
            case "assistant":
                var blocks = try contentBlocks(message["content"], param: "\(param).content")
                for (callIndex, call) in (message["tool_calls"]?.arrayValue ?? []).enumerated() {
                    let callParam = "\(param).tool_calls[\(callIndex)]"
                    guard let id = call["id"]?.stringValue, let name = call["function"]?["name"]?.stringValue else {
                        throw TranslationError("a tool call needs an 'id' and a 'function.name'", param: callParam)
                    }
                    let arguments = call["function"]?["arguments"]?.stringValue ?? "{}"
                    guard let input = try? JSONValue.parse(Array(arguments.utf8)), case .object = input else {
                        throw TranslationError("tool call arguments must be a JSON object", param: "\(callParam).function.arguments")
                    }
                    blocks.append(.object(["type": "tool_use", "id": .string(id), "name": .string(name), "input": input]))
                }
                append("assistant", blocks)
            case "tool":
                guard let id = message["tool_call_id"]?.stringValue else {
                    throw TranslationError("a tool message needs 'tool_call_id'", param: "\(param).tool_call_id")
                }
                let content = try plainText(message["content"], param: "\(param).content")
                append("user", [.object(["type": "tool_result", "tool_use_id": .string(id), "content": .string(content)])])
            default:
                throw TranslationError("unsupported role '\(role)'", param: "\(param).role")
            }
        }
        guard !messages.isEmpty else { throw TranslationError("at least one user or assistant message is needed", param: "messages") }

        var result: [String: JSONValue] = [
            "model": .string(model),
            "messages": .array(messages.map { .object(["role": .string($0.role), "content": .array($0.blocks)]) }),
        ]
        let maxTokens = (body["max_completion_tokens"] ?? body["max_tokens"])?.intValue(clampedTo: 1...10_000_000) ?? defaultMaxTokens
        result["max_tokens"] = .number(Double(maxTokens))
        if !system.isEmpty { result["system"] = .string(system.joined(separator: "\n\n")) }
        // OpenAI's temperature runs to 2, Anthropic's to 1.
        if case .number(let temperature)? = body["temperature"] { result["temperature"] = .number(min(1, max(0, temperature))) }
        if case .number(let topP)? = body["top_p"] { result["top_p"] = .number(topP) }
        switch body["stop"] {
        case .string(let stop)?: result["stop_sequences"] = .array([.string(stop)])
        case .array(let stops)?: result["stop_sequences"] = .array(stops.filter { $0.stringValue != nil })
        default: break
        }
        if let n = body["n"]?.intValue(clampedTo: 0...1_000), n > 1 {
            throw TranslationError("Anthropic models return one choice; 'n' must be 1", param: "n")
        }
        if let user = body["user"]?.stringValue { result["metadata"] = .object(["user_id": .string(user)]) }
        if let tools = body["tools"]?.arrayValue, !tools.isEmpty {
            result["tools"] = .array(
                try tools.enumerated().map { index, tool throws(TranslationError) in
                    guard let function = tool["function"], let name = function["name"]?.stringValue else {
                        throw TranslationError("a tool needs 'function.name'", param: "tools[\(index)].function.name")
                    }
                    var converted: [String: JSONValue] = [
                        "name": .string(name), "input_schema": function["parameters"] ?? .object(["type": "object", "properties": .object([:])]),
                    ]
                    if let description = function["description"]?.stringValue { converted["description"] = .string(description) }
                    return .object(converted)
                })
        }
        if var choice = try toolChoice(body["tool_choice"]) {
            if body["parallel_tool_calls"]?.boolValue == false { choice["disable_parallel_tool_use"] = .bool(true) }
            result["tool_choice"] = .object(choice)
        }
        if stream { result["stream"] = .bool(true) }
        return .object(result)
    }

    private static func toolChoice(_ value: JSONValue?) throws(TranslationError) -> [String: JSONValue]? {
        switch value {
        case nil, .null?: return nil
        case .string("auto")?: return ["type": "auto"]
        case .string("none")?: return ["type": "none"]
        case .string("required")?: return ["type": "any"]
        case .object(let object)?:
            guard let name = object["function"]?["name"]?.stringValue else {
                throw TranslationError("tool_choice names a function as {\"type\": \"function\", \"function\": {\"name\": …}}", param: "tool_choice")
            }
            return ["type": "tool", "name": .string(name)]
        default:
            throw TranslationError("tool_choice must be \"auto\", \"none\", \"required\" or a function", param: "tool_choice")
        }
    }

    private static func plainText(_ content: JSONValue?, param: String) throws(TranslationError) -> String {
        switch content {
        case nil, .null?: return ""
        case .string(let text)?: return text
        case .array(let parts)?: return parts.compactMap { $0["text"]?.stringValue }.joined(separator: "\n")
        default: throw TranslationError("content must be a string or an array of parts", param: param)
        }
    }

    private static func contentBlocks(_ content: JSONValue?, param: String) throws(TranslationError) -> [JSONValue] {
        switch content {
        case nil, .null?: return []
        case .string(let text)?: return text.isEmpty ? [] : [.object(["type": "text", "text": .string(text)])]
        case .array(let parts)?:
            var blocks: [JSONValue] = []
            for (index, part) in parts.enumerated() {
                switch part["type"]?.stringValue {
                case "text":
                    blocks.append(.object(["type": "text", "text": part["text"] ?? .string("")]))
                case "image_url":
                    guard let url = (part["image_url"]?["url"] ?? part["image_url"])?.stringValue else {
                        throw TranslationError("an image part needs 'image_url.url'", param: "\(param)[\(index)].image_url")
                    }
                    blocks.append(.object(["type": "image", "source": try imageSource(url, param: "\(param)[\(index)].image_url.url")]))
                default:
                    throw TranslationError("unsupported content part type for Anthropic", param: "\(param)[\(index)].type")
                }
            }
            return blocks
        default:
            throw TranslationError("content must be a string or an array of parts", param: param)
        }
    }

    /// `data:image/png;base64,…` → a base64 source; `http(s)://…` → a URL source.
    private static func imageSource(_ url: String, param: String) throws(TranslationError) -> JSONValue {
        if url.hasPrefix("data:") {
            guard let comma = url.firstIndex(of: ","), url[..<comma].hasSuffix(";base64") else {
                throw TranslationError("a data URL image must be base64 encoded", param: param)
            }
            let mediaType = url[url.index(url.startIndex, offsetBy: 5)..<comma].dropLast(";base64".count)
            return .object(["type": "base64", "media_type": .string(String(mediaType)), "data": .string(String(url[url.index(after: comma)...]))])
        }
        guard url.hasPrefix("https://") || url.hasPrefix("http://") else {
            throw TranslationError("an image URL must be http(s) or a data URL", param: param)
        }
        return .object(["type": "url", "url": .string(url)])
    }

    // MARK: Response

    package static func finishReason(_ stopReason: String?) -> JSONValue {
        switch stopReason {
        case nil: return .null
        case "max_tokens"?: return "length"
        case "tool_use"?: return "tool_calls"
        case "refusal"?: return "content_filter"
        default: return "stop"
        }
    }

    package static func usage(inputTokens: Int, outputTokens: Int) -> JSONValue {
        .object([
            "prompt_tokens": .number(Double(inputTokens)), "completion_tokens": .number(Double(outputTokens)),
            "total_tokens": .number(Double(inputTokens + outputTokens)),
        ])
    }

    /// Prompt tokens of an Anthropic `usage`: input plus cache reads and writes, which OpenAI counts as prompt.
    private static func inputTokens(_ usage: JSONValue?) -> Int {
        ["input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"].reduce(0) {
            $0 + (usage?[$1]?.intValue(clampedTo: 0...Int(Int32.max)) ?? 0)
        }
    }

    /// An OpenAI `chat.completion` from a Messages API response.
    package static func response(_ message: JSONValue, created: Int) -> JSONValue {
        var text = ""
        var toolCalls: [JSONValue] = []
        for block in message["content"]?.arrayValue ?? [] {
            switch block["type"]?.stringValue {
            case "text": text += block["text"]?.stringValue ?? ""
            case "tool_use":
                toolCalls.append(
                    .object([
                        "id": block["id"] ?? .string(""), "type": "function",
                        "function": .object([
                            "name": block["name"] ?? .string(""),
                            "arguments": .string(String(decoding: (block["input"] ?? .object([:])).jsonBytes, as: UTF8.self)),
                        ]),
                    ]))
            default: break
            }
        }
        var reply: [String: JSONValue] = ["role": "assistant", "content": text.isEmpty && !toolCalls.isEmpty ? .null : .string(text)]
        if !toolCalls.isEmpty { reply["tool_calls"] = .array(toolCalls) }
        let usage = message["usage"]
        return .object([
            "id": message["id"] ?? .string(""), "object": "chat.completion", "created": .number(Double(created)),
            "model": message["model"] ?? .string(""),
            "choices": .array([
                .object([
                    "index": 0, "message": .object(reply), "finish_reason": finishReason(message["stop_reason"]?.stringValue), "logprobs": .null,
                ])
            ]),
            "usage": self.usage(
                inputTokens: inputTokens(usage), outputTokens: usage?["output_tokens"]?.intValue(clampedTo: 0...Int(Int32.max)) ?? 0),
        ])
    }

    /// The HTTP status Anthropic documents for an error type (an `error` event in a stream has none of its own).
    package static func status(ofErrorType type: String?) -> Int {
        switch type {
        case "invalid_request_error"?: return 400
        case "authentication_error"?: return 401
        case "permission_error"?: return 403
        case "not_found_error"?: return 404
        case "request_too_large"?: return 413
        case "rate_limit_error"?: return 429
        case "overloaded_error"?: return 529
        default: return 500
        }
    }

    /// The OpenAI status and error body for an Anthropic error (`{"type":"error","error":{"type","message"}}`).
    package static func error(status: Int, body: JSONValue?) -> (status: Int, body: JSONValue) {
        let kind = body?["error"]?["type"]?.stringValue
        let message = body?["error"]?["message"]?.stringValue ?? "The Anthropic upstream answered HTTP \(status)."
        // 529 (overloaded) is Anthropic's own; OpenAI clients know 503.
        let mapped = status == 529 ? 503 : status
        let type: String
        switch kind {
        case "invalid_request_error"?, "request_too_large"?: type = "invalid_request_error"
        case "authentication_error"?: type = "authentication_error"
        case "permission_error"?: type = "permission_error"
        case "not_found_error"?: type = "not_found_error"
        case "rate_limit_error"?: type = "rate_limit_error"
        default: type = mapped >= 500 ? "server_error" : "invalid_request_error"
        }
        return (
            mapped,
            .object([
                "error": .object(["message": .string(message), "type": .string(type), "param": .null, "code": kind.map(JSONValue.string) ?? .null])
            ])
        )
    }
}

/// Translates Anthropic's message event stream into OpenAI `chat.completion.chunk` events, one
/// event at a time: nothing waits for the end of the answer.
package struct AnthropicStreamTranslator: Sendable {
    private var id = ""
    private var model = ""
    private let created: Int
    private let includeUsage: Bool
    private var inputTokens = 0
    private var outputTokens = 0
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
            record(message?["usage"])
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
            record(event["usage"])
            finishReason = AnthropicTranslation.finishReason(event["delta"]?["stop_reason"]?.stringValue)
            return [chunk(delta: [:], finishReason: finishReason)]
        case "message_stop":
            finished = true
            var events: [String] = []
            if includeUsage {
                events.append(
                    text([
                        "id": .string(id), "object": "chat.completion.chunk", "created": .number(Double(created)), "model": .string(model),
                        "choices": .array([]), "usage": AnthropicTranslation.usage(inputTokens: inputTokens, outputTokens: outputTokens),
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

    private mutating func record(_ usage: JSONValue?) {
        guard let usage else { return }
        let input = ["input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"].compactMap {
            usage[$0]?.intValue(clampedTo: 0...Int(Int32.max))
        }
        if !input.isEmpty { inputTokens = input.reduce(0, +) }
        if let output = usage["output_tokens"]?.intValue(clampedTo: 0...Int(Int32.max)) { outputTokens = output }
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
