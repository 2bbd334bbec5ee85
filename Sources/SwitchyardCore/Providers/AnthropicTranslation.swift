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
        // The same system text as blocks, kept only when a part carries `cache_control`.
        var systemBlocks: [JSONValue] = []
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
                systemBlocks += textBlocks(message["content"])
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
                let mark = message["content"]?.arrayValue?.last { $0["cache_control"]?.objectValue != nil }
                append("user", [marked(["type": "tool_result", "tool_use_id": .string(id), "content": .string(content)], like: mark)])
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
        if systemBlocks.contains(where: { $0["cache_control"] != nil }) {
            result["system"] = .array(systemBlocks)
        } else if !system.isEmpty {
            result["system"] = .string(system.joined(separator: "\n\n"))
        }
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
                    return marked(converted, like: tool)
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
                    blocks.append(marked(["type": "text", "text": part["text"] ?? .string("")], like: part))
                case "image_url":
                    guard let url = (part["image_url"]?["url"] ?? part["image_url"])?.stringValue else {
                        throw TranslationError("an image part needs 'image_url.url'", param: "\(param)[\(index)].image_url")
                    }
                    blocks.append(marked(["type": "image", "source": try imageSource(url, param: "\(param)[\(index)].image_url.url")], like: part))
                default:
                    throw TranslationError("unsupported content part type for Anthropic", param: "\(param)[\(index)].type")
                }
            }
            return blocks
        default:
            throw TranslationError("content must be a string or an array of parts", param: param)
        }
    }

    /// Text blocks of system content, each with the `cache_control` its part carried.
    private static func textBlocks(_ content: JSONValue?) -> [JSONValue] {
        switch content {
        case .string(let text)? where !text.isEmpty: return [.object(["type": "text", "text": .string(text)])]
        case .array(let parts)?:
            return parts.compactMap { part in part["text"]?.stringValue.map { marked(["type": "text", "text": .string($0)], like: part) } }
        default: return []
        }
    }

    /// `block` with the `cache_control` of `source` (a chat content part or tool), which some
    /// clients put in OpenAI-shaped requests meant for Anthropic: it becomes Anthropic's own mark.
    private static func marked(_ block: [String: JSONValue], like source: JSONValue?) -> JSONValue {
        var block = block
        if let mark = source?["cache_control"], mark.objectValue != nil { block["cache_control"] = mark }
        return .object(block)
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
        return .object([
            "id": message["id"] ?? .string(""), "object": "chat.completion", "created": .number(Double(created)),
            "model": message["model"] ?? .string(""),
            "choices": .array([
                .object([
                    "index": 0, "message": .object(reply), "finish_reason": finishReason(message["stop_reason"]?.stringValue), "logprobs": .null,
                ])
            ]),
            // Prompt tokens count cache reads and writes, as OpenAI counts them; the details keep them apart.
            "usage": TokenUsage(anthropic: message["usage"]).chatJSON,
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
