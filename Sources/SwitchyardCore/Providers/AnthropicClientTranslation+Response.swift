extension AnthropicClientTranslation {
    // MARK: Response

    /// An Anthropic `message` for a chat completion.
    package static func message(_ completion: JSONValue, model: String? = nil) -> JSONValue {
        let choice = completion["choices"]?.arrayValue?.first
        let reply = choice?["message"]
        var content: [JSONValue] = []
        if let text = reply?["content"]?.stringValue, !text.isEmpty { content.append(.object(["type": "text", "text": .string(text)])) }
        for call in reply?["tool_calls"]?.arrayValue ?? [] {
            content.append(
                .object([
                    "type": "tool_use", "id": call["id"] ?? "", "name": call["function"]?["name"] ?? "",
                    "input": input(fromArguments: call["function"]?["arguments"]?.stringValue),
                ]))
        }
        return .object([
            "id": .string(messageID(completion["id"]?.stringValue)), "type": "message", "role": "assistant",
            "model": model.map(JSONValue.string) ?? completion["model"] ?? "", "content": .array(content),
            "stop_reason": stopReason(choice?["finish_reason"]?.stringValue), "stop_sequence": .null,
            "usage": TokenUsage(chat: completion["usage"]).anthropicJSON,
        ])
    }

    /// Anthropic's `stop_reason` for a chat `finish_reason`. Chat completions does not say which
    /// stop sequence ended an answer, so a stop is always `end_turn`.
    package static func stopReason(_ finishReason: String?) -> JSONValue {
        switch finishReason {
        case "length"?: return "max_tokens"
        case "tool_calls"?, "function_call"?: return "tool_use"
        case "content_filter"?: return "refusal"
        default: return "end_turn"
        }
    }

    /// A tool call's JSON arguments as the `input` object Anthropic requires; arguments that are
    /// not a JSON object (a model's slip) are kept as a string under `"arguments"` rather than lost.
    static func input(fromArguments arguments: String?) -> JSONValue {
        guard let arguments, !arguments.isEmpty else { return .object([:]) }
        if let parsed = try? JSONValue.parse(Array(arguments.utf8)), case .object = parsed { return parsed }
        return .object(["arguments": .string(arguments)])
    }

    /// Anthropic message ids start with `msg_`; an upstream's id keeps its text after that prefix.
    static func messageID(_ upstreamID: String?) -> String {
        guard let upstreamID, !upstreamID.isEmpty else { return "msg_switchyard" }
        return upstreamID.hasPrefix("msg_") ? upstreamID : "msg_" + upstreamID
    }

    // MARK: Errors

    /// Anthropic's error type for an HTTP status (the reverse of `AnthropicTranslation.status(ofErrorType:)`).
    package static func errorType(forStatus status: Int) -> String {
        switch status {
        case 400, 422: return "invalid_request_error"
        case 401: return "authentication_error"
        case 402: return "billing_error"
        case 403: return "permission_error"
        case 404: return "not_found_error"
        case 413: return "request_too_large"
        case 429: return "rate_limit_error"
        case 503, 529: return "overloaded_error"
        case 504: return "timeout_error"
        case 400..<500: return "invalid_request_error"
        default: return "api_error"
        }
    }

    /// Anthropic's error body, `{"type": "error", "error": {"type", "message"}}`.
    package static func errorBody(status: Int, message: String) -> JSONValue {
        .object(["type": "error", "error": .object(["type": .string(errorType(forStatus: status)), "message": .string(message)])])
    }

    /// The Anthropic error body for an OpenAI-shaped one (`{"error": {"message", "type", "param", "code"}}`),
    /// from the gateway itself or a chat backend; the status stays.
    package static func error(status: Int, openAIBody: JSONValue?) -> JSONValue {
        var message = openAIBody?["error"]?["message"]?.stringValue ?? "The upstream answered HTTP \(status)."
        if let param = openAIBody?["error"]?["param"]?.stringValue, !message.contains(param) { message += " (\(param))" }
        return errorBody(status: status, message: message)
    }

    /// A translation refusal as the 400 an Anthropic client expects.
    package static func error(_ refusal: TranslationError) -> JSONValue {
        errorBody(status: 400, message: refusal.param.map { "\($0): \(refusal.message)" } ?? refusal.message)
    }

    /// The `error` event that ends a stream that broke off after it began.
    package static func errorEvent(status: Int, message: String) -> ServerSentEvent {
        ServerSentEvent(name: "error", data: errorBody(status: status, message: message))
    }
}
