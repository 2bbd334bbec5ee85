/// The text of a chat completion, for comparing two answers to the same request: the first
/// choice's message content, or — when it only calls tools — each call's name and arguments.
package enum AnswerText {
    /// The text of a whole answer; `nil` when it is not a chat completion.
    package static func ofCompletion(_ answer: JSONValue) -> String? {
        // An Anthropic message (`/v1/messages`): its text blocks.
        if answer.objectValue?["type"] == "message", let blocks = answer.objectValue?["content"]?.arrayValue {
            return blocks.compactMap { $0.objectValue?["text"]?.stringValue }.joined()
        }
        // A Responses API `response` (`/v1/responses`): its messages' text, then each call's name and arguments.
        if answer.objectValue?["object"] == "response", let output = answer.objectValue?["output"]?.arrayValue {
            var text = ""
            for item in output.compactMap(\.objectValue) {
                for part in item["content"]?.arrayValue ?? [] { text += part.objectValue?["text"]?.stringValue ?? "" }
                if item["type"] == "function_call", let name = item["name"]?.stringValue {
                    text += (text.isEmpty ? "" : " ") + name + (item["arguments"]?.stringValue ?? "")
                }
            }
            return text
        }
        guard let choice = firstChoice(answer) else { return nil }
        // A legacy text completion carries `text` where a chat completion has a message.
        guard let message = choice["message"]?.objectValue else { return choice["text"]?.stringValue }
        return text(of: message)
    }

    /// The text one stream chunk adds (empty for a chunk without content).
    package static func ofChunk(_ chunk: JSONValue) -> String {
        if chunk.objectValue?["type"] == "response.output_text.delta" {
            return chunk.objectValue?["delta"]?.stringValue ?? ""
        }
        if let delta = chunk.objectValue?["delta"]?.objectValue {
            // An Anthropic `content_block_delta`.
            return delta["text"]?.stringValue ?? ""
        }
        guard let choice = firstChoice(chunk) else { return "" }
        guard let delta = choice["delta"]?.objectValue else { return choice["text"]?.stringValue ?? "" }
        return text(of: delta)
    }

    private static func firstChoice(_ document: JSONValue) -> [String: JSONValue]? {
        document.objectValue?["choices"]?.arrayValue?.first?.objectValue
    }

    private static func text(of message: [String: JSONValue]) -> String {
        var text = message["content"]?.stringValue ?? ""
        for call in message["tool_calls"]?.arrayValue ?? [] {
            guard let function = call.objectValue?["function"]?.objectValue else { continue }
            if let name = function["name"]?.stringValue { text += (text.isEmpty ? "" : " ") + name }
            if let arguments = function["arguments"]?.stringValue { text += arguments }
        }
        return text
    }
}
