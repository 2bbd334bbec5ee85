extension ResponsesTranslation {
    /// A fresh `resp_…` id: the Responses API's prefix and 48 hex digits.
    package static func makeResponseID(using generator: inout some RandomNumberGenerator) -> String {
        "resp_" + (0..<3).map { _ in String(UInt64.random(in: .min ... .max, using: &generator), radix: 16).leftPadded(to: 16) }.joined()
    }

    /// The id of the output item at `index` of the response `responseID` (`msg_…`, `fc_…`).
    static func itemID(_ prefix: String, of responseID: String, index: Int) -> String {
        let suffix = responseID.hasPrefix("resp_") ? String(responseID.dropFirst(5)) : responseID
        return "\(prefix)_\(suffix)_\(index)"
    }

    // MARK: Response

    /// A Responses `response` object for a chat completion, echoing the request's settings as
    /// OpenAI does. `id` is the response's own (see `makeResponseID`), not the upstream's.
    package static func response(_ completion: JSONValue, request: [String: JSONValue], id: String, createdAt: Int) -> JSONValue {
        let choice = completion["choices"]?.arrayValue?.first
        let message = choice?["message"]
        let (status, incomplete) = status(finishReason: choice?["finish_reason"]?.stringValue)
        let itemStatus: JSONValue = status == "incomplete" ? "incomplete" : "completed"
        var output: [JSONValue] = []
        let text = message?["content"]?.stringValue ?? ""
        let refusal = message?["refusal"]?.stringValue
        let calls = message?["tool_calls"]?.arrayValue ?? []
        if !text.isEmpty || refusal != nil || calls.isEmpty {
            let part = refusal.map { JSONValue.object(["type": "refusal", "refusal": .string($0)]) } ?? outputText(text)
            output.append(messageItem(id: itemID("msg", of: id, index: 0), status: itemStatus, content: [part]))
        }
        for call in calls {
            let index = output.count
            output.append(
                functionCallItem(
                    id: itemID("fc", of: id, index: index), status: itemStatus,
                    callID: call["id"]?.stringValue ?? itemID("call", of: id, index: index),
                    name: call["function"]?["name"]?.stringValue ?? "", arguments: call["function"]?["arguments"]?.stringValue ?? ""))
        }
        var object = responseObject(
            id: id, createdAt: createdAt, model: completion["model"] ?? request["model"] ?? "", request: request, status: status, output: output,
            usage: usage(completion["usage"]))
        if let incomplete { object["incomplete_details"] = .object(["reason": .string(incomplete)]) }
        return .object(object)
    }

    /// Responses `usage` for a chat completion `usage`; `null` when there is none.
    package static func usage(_ chatUsage: JSONValue?) -> JSONValue {
        guard let chatUsage, chatUsage.objectValue != nil else { return .null }
        let reasoning = chatUsage["completion_tokens_details"]?["reasoning_tokens"]?.intValue() ?? 0
        return TokenUsage(chat: chatUsage).responsesJSON(reasoningTokens: reasoning)
    }

    /// The response status for a chat `finish_reason`, with the reason of an incomplete one.
    static func status(finishReason: String?) -> (status: String, incompleteReason: String?) {
        switch finishReason {
        case "length"?: return ("incomplete", "max_output_tokens")
        case "content_filter"?: return ("incomplete", "content_filter")
        default: return ("completed", nil)
        }
    }

    /// Every member the SDK's `Response` model requires, the request's settings echoed.
    static func responseObject(
        id: String, createdAt: Int, model: JSONValue, request: [String: JSONValue], status: String, output: [JSONValue], usage: JSONValue
    ) -> [String: JSONValue] {
        func echoed(_ key: String, default value: JSONValue) -> JSONValue {
            guard let given = request[key], given != .null else { return value }
            return given
        }
        return [
            "id": .string(id), "object": "response", "created_at": .number(Double(createdAt)), "status": .string(status), "background": .bool(false),
            "error": .null, "incomplete_details": .null, "instructions": echoed("instructions", default: .null),
            "max_output_tokens": echoed("max_output_tokens", default: .null), "metadata": echoed("metadata", default: .object([:])), "model": model,
            "output": .array(output), "parallel_tool_calls": echoed("parallel_tool_calls", default: .bool(true)), "previous_response_id": .null,
            "reasoning": .object(["effort": request["reasoning"]?["effort"] ?? .null, "summary": .null]),
            // Nothing is kept here: `GET /v1/responses/{id}` cannot find a translated response.
            "store": .bool(false), "temperature": echoed("temperature", default: 1),
            "text": echoed("text", default: .object(["format": .object(["type": "text"])])),
            "tool_choice": echoed("tool_choice", default: "auto"), "tools": echoed("tools", default: .array([])),
            "top_p": echoed("top_p", default: 1),
            "truncation": "disabled", "usage": usage, "user": echoed("user", default: .null),
        ]
    }

    static func outputText(_ text: String) -> JSONValue {
        .object(["type": "output_text", "text": .string(text), "annotations": .array([]), "logprobs": .array([])])
    }

    static func messageItem(id: String, status: JSONValue, content: [JSONValue]) -> JSONValue {
        .object(["id": .string(id), "type": "message", "status": status, "role": "assistant", "content": .array(content)])
    }

    static func functionCallItem(id: String, status: JSONValue, callID: String, name: String, arguments: String) -> JSONValue {
        .object([
            "id": .string(id), "type": "function_call", "status": status, "call_id": .string(callID), "name": .string(name),
            "arguments": .string(arguments),
        ])
    }
}

extension String {
    fileprivate func leftPadded(to length: Int) -> String {
        count >= length ? self : String(repeating: "0", count: length - count) + self
    }
}
