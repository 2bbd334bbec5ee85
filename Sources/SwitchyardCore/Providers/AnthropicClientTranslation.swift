/// Anthropic's Messages API as clients speak it (`POST /v1/messages`) ⇄ chat completions, for
/// backends that are not Anthropic: the reverse of `AnthropicTranslation`. A request becomes a
/// chat completion request; the chat completion (or its chunks, see
/// `AnthropicClientStreamTranslator`) becomes a `message`; errors take Anthropic's shape.
package enum AnthropicClientTranslation {
    // MARK: Request

    /// The chat completion request for a Messages API body.
    ///
    /// `cache_control` marks are counted in `cacheMarks` and left out: chat completions has no such
    /// field, and OpenAI-compatible backends cache prompt prefixes on their own.
    package static func chatRequest(from body: [String: JSONValue]) throws(TranslationError) -> ChatRequestTranslation {
        for (key, value) in body.sorted(by: { $0.key < $1.key }) where value != .null {
            if let refusal = refusal(of: key) { throw refusal }
        }
        var cacheMarks = 0
        func countMark(_ block: JSONValue) {
            if let mark = block["cache_control"], mark != .null { cacheMarks += 1 }
        }
        var messages: [JSONValue] = []
        switch body["system"] {
        case nil, .null?: break
        case .string(let text)?: if !text.isEmpty { messages.append(.object(["role": "system", "content": .string(text)])) }
        case .array(let blocks)?:
            var texts: [String] = []
            for (index, block) in blocks.enumerated() {
                guard block["type"] == "text", let text = block["text"]?.stringValue else {
                    throw TranslationError("system blocks must be text blocks", param: "system[\(index)]")
                }
                countMark(block)
                texts.append(text)
            }
            if !texts.isEmpty { messages.append(.object(["role": "system", "content": .string(texts.joined(separator: "\n\n"))])) }
        default:
            throw TranslationError("'system' must be a string or an array of text blocks", param: "system")
        }
        guard let turns = body["messages"]?.arrayValue, !turns.isEmpty else {
            throw TranslationError("'messages' must be a non-empty array", param: "messages")
        }
        for (index, turn) in turns.enumerated() {
            let param = "messages[\(index)]"
            let blocks: [JSONValue]
            switch turn["content"] {
            case .string(let text)?: blocks = [.object(["type": "text", "text": .string(text)])]
            case .array(let array)?: blocks = array
            default: throw TranslationError("content must be a string or an array of content blocks", param: "\(param).content")
            }
            blocks.forEach(countMark)
            switch turn["role"]?.stringValue {
            case "user"?: messages += try userMessages(blocks, param: "\(param).content", countMark: countMark)
            case "assistant"?: messages.append(try assistantMessage(blocks, param: "\(param).content"))
            default: throw TranslationError("a message role must be user or assistant", param: "\(param).role")
            }
        }

        var chat: [String: JSONValue] = ["messages": .array(messages)]
        for key in ["model", "temperature", "top_p"] where body[key] != nil && body[key] != .null { chat[key] = body[key] }
        // `max_completion_tokens` is the name OpenAI's reasoning models require (they refuse `max_tokens`).
        if let maxTokens = body["max_tokens"], maxTokens != .null { chat["max_completion_tokens"] = maxTokens }
        if let stops = body["stop_sequences"]?.arrayValue, !stops.isEmpty { chat["stop"] = .array(stops) }
        if let user = body["metadata"]?["user_id"]?.stringValue { chat["user"] = .string(user) }
        if body["stream"]?.boolValue == true {
            chat["stream"] = .bool(true)
            // `message_delta` carries usage, which a chat stream sends only when asked.
            chat["stream_options"] = .object(["include_usage": .bool(true)])
        }
        if let tools = body["tools"]?.arrayValue, !tools.isEmpty {
            chat["tools"] = .array(
                try tools.enumerated().map { index, tool throws(TranslationError) in
                    countMark(tool)
                    return try functionTool(tool, param: "tools[\(index)]")
                })
        }
        if let choice = body["tool_choice"], choice != .null {
            switch choice["type"]?.stringValue {
            case "auto"?: chat["tool_choice"] = "auto"
            case "any"?: chat["tool_choice"] = "required"
            case "none"?: chat["tool_choice"] = "none"
            case "tool"?:
                guard let name = choice["name"]?.stringValue else {
                    throw TranslationError("a tool choice needs a 'name'", param: "tool_choice.name")
                }
                chat["tool_choice"] = .object(["type": "function", "function": .object(["name": .string(name)])])
            default: throw TranslationError("tool_choice type must be auto, any, tool or none", param: "tool_choice.type")
            }
            if choice["disable_parallel_tool_use"]?.boolValue == true { chat["parallel_tool_calls"] = .bool(false) }
        }
        return ChatRequestTranslation(body: chat, cacheMarks: cacheMarks)
    }

    /// What happens to each top-level member (`null` counts as absent): `model`, `messages`,
    /// `system`, `max_tokens`, `stop_sequences`, `temperature`, `top_p`, `stream`, `tools`,
    /// `tool_choice` and `metadata.user_id` are translated; `top_k` (no chat equivalent), `thinking`
    /// (extended thinking: the answer comes without thinking blocks), `service_tier` and
    /// `context_management` (Anthropic's server-side context editing) are ignored, so that clients
    /// that always send them still work; anything else (`container`, `mcp_servers`, new members)
    /// is refused, naming it.
    private static func refusal(of key: String) -> TranslationError? {
        switch key {
        case "model", "messages", "system", "max_tokens", "stop_sequences", "temperature", "top_p", "stream", "tools", "tool_choice", "metadata",
            "top_k", "thinking", "service_tier", "context_management":
            return nil
        default:
            return TranslationError("'\(key)' is not supported for backends that do not speak Anthropic's Messages API", param: key)
        }
    }

    /// A custom tool (`name`, `input_schema`) → a chat function tool; server tools run only at Anthropic.
    private static func functionTool(_ tool: JSONValue, param: String) throws(TranslationError) -> JSONValue {
        if let type = tool["type"]?.stringValue, type != "custom" {
            throw TranslationError("the tool type '\(type)' runs only at Anthropic: only custom tools are translated", param: "\(param).type")
        }
        guard let name = tool["name"]?.stringValue else { throw TranslationError("a tool needs a 'name'", param: "\(param).name") }
        var function: [String: JSONValue] = [
            "name": .string(name), "parameters": tool["input_schema"] ?? .object(["type": "object", "properties": .object([:])]),
        ]
        if let description = tool["description"]?.stringValue { function["description"] = .string(description) }
        return .object(["type": "function", "function": .object(function)])
    }

    /// A user turn: its tool results become `tool` messages, which must follow the assistant's
    /// calls directly in chat completions, then the rest becomes one `user` message.
    private static func userMessages(
        _ blocks: [JSONValue], param: String, countMark: (JSONValue) -> Void
    ) throws(TranslationError) -> [JSONValue] {
        var messages: [JSONValue] = []
        var parts: [JSONValue] = []
        for (index, block) in blocks.enumerated() {
            let blockParam = "\(param)[\(index)]"
            switch block["type"]?.stringValue {
            case "text"?:
                parts.append(.object(["type": "text", "text": .string(block["text"]?.stringValue ?? "")]))
            case "image"?:
                parts.append(
                    .object([
                        "type": "image_url", "image_url": .object(["url": .string(try imageURL(block["source"], param: "\(blockParam).source"))]),
                    ]))
            case "tool_result"?:
                guard let id = block["tool_use_id"]?.stringValue else {
                    throw TranslationError("a tool_result block needs 'tool_use_id'", param: "\(blockParam).tool_use_id")
                }
                var text: String
                switch block["content"] {
                case nil, .null?: text = ""
                case .string(let string)?: text = string
                case .array(let inner)?:
                    text = ""
                    for (innerIndex, part) in inner.enumerated() {
                        countMark(part)
                        guard part["type"] == "text", let piece = part["text"]?.stringValue else {
                            throw TranslationError("tool results carry text only on this backend", param: "\(blockParam).content[\(innerIndex)].type")
                        }
                        text += text.isEmpty ? piece : "\n" + piece
                    }
                default: throw TranslationError("tool_result content must be a string or an array of blocks", param: "\(blockParam).content")
                }
                // Chat tool messages have no error flag; the model still needs to know the call failed.
                if block["is_error"]?.boolValue == true { text = "Error: " + text }
                messages.append(.object(["role": "tool", "tool_call_id": .string(id), "content": .string(text)]))
            default:
                throw TranslationError("content blocks of this type are not translated for this backend", param: "\(blockParam).type")
            }
        }
        if !parts.isEmpty {
            // A turn of one text block reads best as a plain string, as most chat backends expect.
            if parts.count == 1, parts[0]["type"] == "text" {
                messages.append(.object(["role": "user", "content": parts[0]["text"] ?? ""]))
            } else {
                messages.append(.object(["role": "user", "content": .array(parts)]))
            }
        }
        return messages
    }

    private static func assistantMessage(_ blocks: [JSONValue], param: String) throws(TranslationError) -> JSONValue {
        var text = ""
        var calls: [JSONValue] = []
        for (index, block) in blocks.enumerated() {
            switch block["type"]?.stringValue {
            case "text"?:
                text += block["text"]?.stringValue ?? ""
            case "tool_use"?:
                guard let id = block["id"]?.stringValue, let name = block["name"]?.stringValue else {
                    throw TranslationError("a tool_use block needs 'id' and 'name'", param: "\(param)[\(index)]")
                }
                let arguments = String(decoding: (block["input"] ?? .object([:])).jsonBytes, as: UTF8.self)
                calls.append(
                    .object(["id": .string(id), "type": "function", "function": .object(["name": .string(name), "arguments": .string(arguments)])]))
            case "thinking"?, "redacted_thinking"?:
                break  // signed by Anthropic for Anthropic; no chat backend can use them
            default:
                throw TranslationError("content blocks of this type are not translated for this backend", param: "\(param)[\(index)].type")
            }
        }
        var message: [String: JSONValue] = ["role": "assistant", "content": text.isEmpty && !calls.isEmpty ? .null : .string(text)]
        if !calls.isEmpty { message["tool_calls"] = .array(calls) }
        return .object(message)
    }

    /// An image source as the URL chat completions takes: base64 data → a data URL.
    private static func imageURL(_ source: JSONValue?, param: String) throws(TranslationError) -> String {
        switch source?["type"]?.stringValue {
        case "base64"?:
            guard let mediaType = source?["media_type"]?.stringValue, let data = source?["data"]?.stringValue else {
                throw TranslationError("a base64 image source needs 'media_type' and 'data'", param: param)
            }
            return "data:\(mediaType);base64,\(data)"
        case "url"?:
            guard let url = source?["url"]?.stringValue else { throw TranslationError("a url image source needs 'url'", param: param) }
            return url
        default:
            throw TranslationError("image sources must be base64 or url on this backend (files are kept at Anthropic)", param: "\(param).type")
        }
    }
}
