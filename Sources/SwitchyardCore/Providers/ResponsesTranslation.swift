/// OpenAI's Responses API (`POST /v1/responses`) ⇄ chat completions, for backends that do not
/// speak it: the stateless subset of a request becomes a chat completion request, and the chat
/// completion (or its chunks, see `ResponsesStreamTranslator`) becomes a `response`. Anthropic
/// backends are reached by composition: the chat request goes on through `AnthropicTranslation`.
package enum ResponsesTranslation {
    // MARK: Request

    /// The chat completion request for a Responses request body.
    ///
    /// `keepCacheMarks` carries `prompt_cache_breakpoint` on input parts into the chat request as
    /// `cache_control: {"type": "ephemeral"}` (what `AnthropicTranslation` turns into Anthropic's
    /// mark; the breakpoint's `ttl` has no Anthropic equivalent and is dropped). Leave it off for
    /// OpenAI-compatible backends, which cache on their own and may refuse the unknown member.
    package static func chatRequest(from body: [String: JSONValue], keepCacheMarks: Bool = false) throws(TranslationError) -> ChatRequestTranslation {
        for (key, value) in body.sorted(by: { $0.key < $1.key }) where value != .null {
            if let refusal = refusal(of: key, value) { throw refusal }
        }
        var input = InputTranslation(keepCacheMarks: keepCacheMarks)
        switch body["instructions"] {
        case nil, .null?: break
        case .string(let text)?: if !text.isEmpty { input.messages.append(["role": "system", "content": .string(text)]) }
        default: throw TranslationError("'instructions' must be a string", param: "instructions")
        }
        switch body["input"] {
        case .string(let text)?: input.messages.append(["role": "user", "content": .string(text)])
        case .array(let items)?:
            for (index, item) in items.enumerated() { try input.append(item, param: "input[\(index)]") }
        default: throw TranslationError("'input' must be a string or an array of input items", param: "input")
        }
        guard input.messages.contains(where: { $0["role"] != "system" }) else {
            throw TranslationError("'input' needs at least one message", param: "input")
        }

        var chat: [String: JSONValue] = ["messages": .array(input.messages.map(JSONValue.object))]
        for key in [
            "model", "temperature", "top_p", "user", "parallel_tool_calls", "safety_identifier", "prompt_cache_key", "prompt_cache_retention",
            "prompt_cache_options", "service_tier",
        ]
        where body[key] != nil && body[key] != .null {
            chat[key] = body[key]
        }
        // `max_completion_tokens` is the name OpenAI's reasoning models require (they refuse `max_tokens`).
        if let maxTokens = body["max_output_tokens"], maxTokens != .null { chat["max_completion_tokens"] = maxTokens }
        if body["stream"]?.boolValue == true {
            chat["stream"] = .bool(true)
            // The `response.completed` event carries usage, which a chat stream sends only when asked.
            chat["stream_options"] = .object(["include_usage": .bool(true)])
        }
        if let tools = body["tools"]?.arrayValue, !tools.isEmpty { chat["tools"] = .array(try tools.enumerated().map(functionTool)) }
        if let choice = body["tool_choice"], choice != .null { chat["tool_choice"] = try toolChoice(choice) }
        if let effort = body["reasoning"]?["effort"], effort.stringValue != nil { chat["reasoning_effort"] = effort }
        if let text = body["text"] {
            if let format = try responseFormat(text["format"]) { chat["response_format"] = format }
            if let verbosity = text["verbosity"], verbosity.stringValue != nil { chat["verbosity"] = verbosity }
        }
        return ChatRequestTranslation(body: chat, cacheMarks: input.cacheMarks)
    }

    /// What happens to each top-level member (`null` counts as absent):
    /// - translated: `model`, `input`, `instructions`, `tools` (function tools), `tool_choice`,
    ///   `parallel_tool_calls`, `max_output_tokens`, `temperature`, `top_p`, `stream`, `user`, `text`
    ///   (format and verbosity), `reasoning` (effort), and the members chat completions shares
    ///   (`safety_identifier`, `prompt_cache_key`, `prompt_cache_retention`, `prompt_cache_options`,
    ///   `service_tier`), passed as they are;
    /// - ignored, since they concern what OpenAI stores or returns beyond the answer: `metadata`
    ///   (echoed in the response), `store`, `include`, `truncation`, `stream_options`,
    ///   `max_tool_calls` (it bounds built-in tools, which are refused), `background: false`,
    ///   `top_logprobs: 0`;
    /// - refused, naming the member: state kept at OpenAI (`previous_response_id`, `conversation`,
    ///   `prompt`), `background: true`, `top_logprobs` above 0, and every member not listed here.
    ///   The Responses API keeps gaining server-side features (moderation, context management…);
    ///   an answer that silently went without one is worse than a 400 that says which.
    private static func refusal(of key: String, _ value: JSONValue) -> TranslationError? {
        switch key {
        case "model", "input", "instructions", "tools", "tool_choice", "parallel_tool_calls", "max_output_tokens", "temperature", "top_p", "stream",
            "user", "text", "reasoning", "safety_identifier", "prompt_cache_key", "prompt_cache_retention", "prompt_cache_options", "service_tier",
            "metadata", "store", "include", "truncation", "stream_options", "max_tool_calls":
            return nil
        case "background":
            guard value != .bool(false) else { return nil }
            return TranslationError("background responses are kept and polled at OpenAI; this backend answers in the foreground only", param: key)
        case "top_logprobs":
            guard value != .number(0) else { return nil }
            return TranslationError("log probabilities are not translated for this backend", param: key)
        case "previous_response_id", "conversation":
            return TranslationError(
                "'\(key)' refers to conversation state this backend does not keep; send the whole conversation in 'input'", param: key)
        case "prompt":
            return TranslationError("stored prompt templates are kept at OpenAI and cannot be used with this backend", param: key)
        default:
            return TranslationError("'\(key)' is not supported for backends that do not speak the Responses API", param: key)
        }
    }

    /// Responses' flat function tool → chat's nested one; any other tool type runs only at OpenAI.
    private static func functionTool(index: Int, tool: JSONValue) throws(TranslationError) -> JSONValue {
        let param = "tools[\(index)]"
        guard let type = tool["type"]?.stringValue else { throw TranslationError("a tool needs a 'type'", param: "\(param).type") }
        guard type == "function" else {
            throw TranslationError(
                "the tool type '\(type)' is not available on this backend: only function tools are translated", param: "\(param).type")
        }
        guard let name = tool["name"]?.stringValue else { throw TranslationError("a function tool needs a 'name'", param: "\(param).name") }
        var function: [String: JSONValue] = ["name": .string(name)]
        for key in ["description", "parameters", "strict"] where tool[key] != nil && tool[key] != .null { function[key] = tool[key] }
        return .object(["type": "function", "function": .object(function)])
    }

    private static func toolChoice(_ value: JSONValue) throws(TranslationError) -> JSONValue {
        switch value {
        case .string("auto"), .string("none"), .string("required"): return value
        case .object(let choice) where choice["type"] == "function":
            guard let name = choice["name"]?.stringValue else {
                throw TranslationError("a function tool_choice needs a 'name'", param: "tool_choice.name")
            }
            return .object(["type": "function", "function": .object(["name": .string(name)])])
        case .object(let choice):
            let type = choice["type"]?.stringValue ?? "?"
            throw TranslationError("tool_choice of type '\(type)' is not available on this backend", param: "tool_choice.type")
        default:
            throw TranslationError("tool_choice must be \"auto\", \"none\", \"required\" or a function", param: "tool_choice")
        }
    }

    /// `text.format` → chat's `response_format`; `nil` for plain text.
    private static func responseFormat(_ format: JSONValue?) throws(TranslationError) -> JSONValue? {
        switch format?["type"]?.stringValue {
        case nil, "text"?: return nil
        case "json_object"?: return .object(["type": "json_object"])
        case "json_schema"?:
            guard let name = format?["name"]?.stringValue else {
                throw TranslationError("a json_schema format needs a 'name'", param: "text.format.name")
            }
            var schema: [String: JSONValue] = ["name": .string(name)]
            for key in ["schema", "strict", "description"] where format?[key] != nil && format?[key] != .null { schema[key] = format?[key] }
            return .object(["type": "json_schema", "json_schema": .object(schema)])
        case let type?:
            throw TranslationError("the text format '\(type)' is not translated", param: "text.format.type")
        }
    }
}

/// Responses input items → chat messages, in order.
private struct InputTranslation {
    let keepCacheMarks: Bool
    var messages: [[String: JSONValue]] = []
    var cacheMarks = 0

    init(keepCacheMarks: Bool) {
        self.keepCacheMarks = keepCacheMarks
    }

    mutating func append(_ item: JSONValue, param: String) throws(TranslationError) {
        guard case .object = item else { throw TranslationError("an input item must be an object", param: param) }
        // An "easy" input message may leave out `type`.
        switch item["type"]?.stringValue ?? (item["role"] != nil ? "message" : "") {
        case "message":
            try appendMessage(item, param: param)
        case "function_call":
            guard let callID = item["call_id"]?.stringValue, let name = item["name"]?.stringValue else {
                throw TranslationError("a function_call item needs 'call_id' and 'name'", param: param)
            }
            let call: JSONValue = .object([
                "id": .string(callID), "type": "function",
                "function": .object(["name": .string(name), "arguments": .string(item["arguments"]?.stringValue ?? "{}")]),
            ])
            // Calls made in one turn (after its text, if any) belong to one assistant message.
            if let last = messages.last, last["role"] == "assistant" {
                messages[messages.count - 1]["tool_calls"] = .array((last["tool_calls"]?.arrayValue ?? []) + [call])
            } else {
                messages.append(["role": "assistant", "content": .null, "tool_calls": .array([call])])
            }
        case "function_call_output":
            guard let callID = item["call_id"]?.stringValue else {
                throw TranslationError("a function_call_output item needs 'call_id'", param: "\(param).call_id")
            }
            messages.append([
                "role": "tool", "tool_call_id": .string(callID), "content": .string(try outputText(item["output"], param: "\(param).output")),
            ])
        case "reasoning":
            break  // another model's reasoning (often encrypted) means nothing to this backend
        case "item_reference":
            throw TranslationError("item references point at items stored at OpenAI, which this backend cannot read", param: param)
        case let type:
            throw TranslationError("input items of type '\(type)' are not translated for this backend", param: "\(param).type")
        }
    }

    private mutating func appendMessage(_ item: JSONValue, param: String) throws(TranslationError) {
        let content = item["content"]
        switch item["role"]?.stringValue {
        case "user"?:
            messages.append(["role": "user", "content": try userContent(content, param: "\(param).content", textOnly: false)])
        case "system"?, "developer"?:
            // `system` is what every chat backend knows; OpenAI treats it as `developer` where that matters.
            messages.append(["role": "system", "content": try userContent(content, param: "\(param).content", textOnly: true)])
        case "assistant"?:
            var message: [String: JSONValue] = ["role": "assistant"]
            switch content {
            case .string(let text)?: message["content"] = .string(text)
            case .array(let parts)?:
                message["content"] = .string(parts.compactMap { $0["text"]?.stringValue }.joined())
                let refusal = parts.compactMap { $0["refusal"]?.stringValue }.joined()
                if !refusal.isEmpty { message["refusal"] = .string(refusal) }
            default: throw TranslationError("content must be a string or an array of parts", param: "\(param).content")
            }
            messages.append(message)
        default:
            throw TranslationError("a message role must be user, assistant, system or developer", param: "\(param).role")
        }
    }

    private mutating func userContent(_ content: JSONValue?, param: String, textOnly: Bool) throws(TranslationError) -> JSONValue {
        switch content {
        case .string(let text)?: return .string(text)
        case .array(let parts)?:
            var converted: [JSONValue] = []
            for (index, part) in parts.enumerated() {
                let partParam = "\(param)[\(index)]"
                var chatPart: [String: JSONValue]
                switch part["type"]?.stringValue {
                case "input_text"?, "output_text"?:
                    chatPart = ["type": "text", "text": .string(part["text"]?.stringValue ?? "")]
                case "input_image"? where !textOnly:
                    guard let url = part["image_url"]?.stringValue else {
                        throw TranslationError(
                            "an image must be given by 'image_url' (a URL or data URL); file ids are not translated", param: partParam)
                    }
                    var image: [String: JSONValue] = ["url": .string(url)]
                    if let detail = part["detail"]?.stringValue, ["auto", "low", "high"].contains(detail) { image["detail"] = .string(detail) }
                    chatPart = ["type": "image_url", "image_url": .object(image)]
                case "input_file"? where !textOnly:
                    var file: [String: JSONValue] = [:]
                    for key in ["file_data", "file_id", "filename"] where part[key]?.stringValue != nil { file[key] = part[key] }
                    guard file["file_data"] != nil || file["file_id"] != nil else {
                        throw TranslationError("a file must be given by 'file_data' or 'file_id'; 'file_url' is not translated", param: partParam)
                    }
                    chatPart = ["type": "file", "file": .object(file)]
                default:
                    throw TranslationError("content parts of this type are not translated here", param: "\(partParam).type")
                }
                if let breakpoint = part["prompt_cache_breakpoint"], breakpoint != .null {
                    cacheMarks += 1
                    if keepCacheMarks { chatPart["cache_control"] = .object(["type": "ephemeral"]) }
                }
                converted.append(.object(chatPart))
            }
            return .array(converted)
        default:
            throw TranslationError("content must be a string or an array of parts", param: param)
        }
    }

    /// A function call's output: a string, or text parts (chat tool messages carry text only).
    private func outputText(_ output: JSONValue?, param: String) throws(TranslationError) -> String {
        switch output {
        case .string(let text)?: return text
        case .array(let parts)?:
            var text = ""
            for (index, part) in parts.enumerated() {
                guard part["type"] == "input_text" || part["type"] == "output_text", let piece = part["text"]?.stringValue else {
                    throw TranslationError("a function call output carries text only on this backend", param: "\(param)[\(index)].type")
                }
                text += piece
            }
            return text
        default:
            throw TranslationError("'output' must be a string or an array of text parts", param: param)
        }
    }
}
