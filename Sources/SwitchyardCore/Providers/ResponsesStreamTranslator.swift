/// Translates OpenAI `chat.completion.chunk` events into the Responses API's typed stream, one
/// chunk at a time: `response.created` and `response.in_progress` with the first chunk, then an
/// output item per message or function call (`output_item.added`, `content_part.added`,
/// `output_text.delta`, `function_call_arguments.delta`, … and their `done` events), and
/// `response.completed` (or `response.incomplete`) with usage once the chat stream ends.
///
/// The relay hands every chunk's JSON to `translate`, calls `finish()` on `data: [DONE]`, and
/// `fail(message:code:)` when the upstream breaks off after the first event (a failure before
/// it is answered as an HTTP error instead). Chat streams send usage only when asked to, which
/// `ResponsesTranslation.chatRequest` does.
package struct ResponsesStreamTranslator: Sendable {
    private enum Item: Sendable {
        case message(text: String)
        case call(callID: String, name: String, arguments: String)
    }

    private let responseID: String
    private let createdAt: Int
    private let request: [String: JSONValue]
    private var model: JSONValue
    private var sequenceNumber = 0
    private var started = false
    package private(set) var finished = false
    /// The upstream's counts, once its usage chunk came.
    package private(set) var usage: TokenUsage?
    private var chatUsage: JSONValue?
    private var finishReason: String?
    /// Output items in order, and which of them are still open.
    private var items: [Item] = []
    private var open: Set<Int> = []
    /// The output index of the message receiving text, while it is open.
    private var message: Int?
    /// Chat tool call index → output index.
    private var calls: [Int: Int] = [:]

    package init(responseID: String, createdAt: Int, request: [String: JSONValue]) {
        self.responseID = responseID
        self.createdAt = createdAt
        self.request = request
        self.model = request["model"] ?? ""
    }

    /// The events for one chat completion chunk (given by its JSON data).
    package mutating func translate(_ chunk: JSONValue) -> [ServerSentEvent] {
        guard !finished else { return [] }
        if let error = chunk["error"], error != .null {
            return fail(message: error["message"]?.stringValue ?? "The upstream stream failed.", code: "server_error")
        }
        var events: [ServerSentEvent] = []
        if let model = chunk["model"], model.stringValue != nil, !started { self.model = model }
        start(&events)
        if let usage = chunk["usage"], usage.objectValue != nil {
            chatUsage = usage
            self.usage = TokenUsage(chat: usage)
        }
        guard let choice = chunk["choices"]?.arrayValue?.first else { return events }
        if let text = choice["delta"]?["content"]?.stringValue, !text.isEmpty { appendText(text, &events) }
        for call in choice["delta"]?["tool_calls"]?.arrayValue ?? [] { appendCall(call, &events) }
        if let reason = choice["finish_reason"]?.stringValue { finishReason = reason }
        return events
    }

    /// The closing events, once the chat stream ended (`[DONE]`).
    package mutating func finish() -> [ServerSentEvent] {
        guard !finished else { return [] }
        var events: [ServerSentEvent] = []
        start(&events)
        let (status, incompleteReason) = ResponsesTranslation.status(finishReason: finishReason)
        for index in items.indices where open.contains(index) { close(index, status: status, &events) }
        var response = snapshot(status: status)
        if let incompleteReason { response["incomplete_details"] = .object(["reason": .string(incompleteReason)]) }
        events.append(event(status == "completed" ? "response.completed" : "response.incomplete", ["response": .object(response)]))
        finished = true
        return events
    }

    /// The events that end the stream as failed: an `error` event, then `response.failed`.
    package mutating func fail(message: String, code: String = "server_error") -> [ServerSentEvent] {
        guard !finished else { return [] }
        var events: [ServerSentEvent] = []
        start(&events)
        events.append(event("error", ["code": .string(code), "message": .string(message), "param": .null]))
        var response = snapshot(status: "failed")
        response["error"] = .object(["code": .string(code), "message": .string(message)])
        events.append(event("response.failed", ["response": .object(response)]))
        finished = true
        return events
    }

    private mutating func start(_ events: inout [ServerSentEvent]) {
        guard !started else { return }
        started = true
        events.append(event("response.created", ["response": .object(snapshot(status: "in_progress"))]))
        events.append(event("response.in_progress", ["response": .object(snapshot(status: "in_progress"))]))
    }

    private mutating func appendText(_ text: String, _ events: inout [ServerSentEvent]) {
        let index: Int
        if let message {
            index = message
        } else {
            index = items.count
            items.append(.message(text: ""))
            open.insert(index)
            message = index
            let id = itemID(index)
            events.append(
                event(
                    "response.output_item.added",
                    ["output_index": .number(Double(index)), "item": ResponsesTranslation.messageItem(id: id, status: "in_progress", content: [])]))
            events.append(
                event(
                    "response.content_part.added",
                    ["item_id": .string(id), "output_index": .number(Double(index)), "content_index": 0, "part": ResponsesTranslation.outputText("")])
            )
        }
        if case .message(let sofar) = items[index] { items[index] = .message(text: sofar + text) }
        events.append(
            event(
                "response.output_text.delta",
                [
                    "item_id": .string(itemID(index)), "output_index": .number(Double(index)), "content_index": 0, "delta": .string(text),
                    "logprobs": .array([]),
                ]))
    }

    private mutating func appendCall(_ call: JSONValue, _ events: inout [ServerSentEvent]) {
        let chatIndex = call["index"]?.intValue(clampedTo: 0...1_000_000) ?? 0
        let index: Int
        if let known = calls[chatIndex] {
            index = known
        } else {
            // Text before the calls is complete once the first call starts.
            if let message { close(message, status: "completed", &events) }
            index = items.count
            let callID = call["id"]?.stringValue ?? ResponsesTranslation.itemID("call", of: responseID, index: index)
            let name = call["function"]?["name"]?.stringValue ?? ""
            items.append(.call(callID: callID, name: name, arguments: ""))
            open.insert(index)
            calls[chatIndex] = index
            events.append(
                event(
                    "response.output_item.added",
                    [
                        "output_index": .number(Double(index)),
                        "item": ResponsesTranslation.functionCallItem(
                            id: itemID(index), status: "in_progress", callID: callID, name: name, arguments: ""),
                    ]))
        }
        guard let delta = call["function"]?["arguments"]?.stringValue, !delta.isEmpty,
            case .call(let callID, let name, let arguments) = items[index]
        else { return }
        items[index] = .call(callID: callID, name: name, arguments: arguments + delta)
        events.append(
            event(
                "response.function_call_arguments.delta",
                ["item_id": .string(itemID(index)), "output_index": .number(Double(index)), "delta": .string(delta)]))
    }

    private mutating func close(_ index: Int, status: String, _ events: inout [ServerSentEvent]) {
        guard open.remove(index) != nil else { return }
        if message == index { message = nil }
        let id = itemID(index)
        let position = JSONValue.number(Double(index))
        switch items[index] {
        case .message(let text):
            events.append(
                event(
                    "response.output_text.done",
                    ["item_id": .string(id), "output_index": position, "content_index": 0, "text": .string(text), "logprobs": .array([])]))
            events.append(
                event(
                    "response.content_part.done",
                    ["item_id": .string(id), "output_index": position, "content_index": 0, "part": ResponsesTranslation.outputText(text)]))
        case .call(_, _, let arguments):
            events.append(
                event("response.function_call_arguments.done", ["item_id": .string(id), "output_index": position, "arguments": .string(arguments)]))
        }
        events.append(event("response.output_item.done", ["output_index": position, "item": item(index, status: status)]))
    }

    private func item(_ index: Int, status: String) -> JSONValue {
        let itemStatus: JSONValue = open.contains(index) ? "in_progress" : status == "incomplete" ? "incomplete" : "completed"
        switch items[index] {
        case .message(let text):
            return ResponsesTranslation.messageItem(id: itemID(index), status: itemStatus, content: [ResponsesTranslation.outputText(text)])
        case .call(let callID, let name, let arguments):
            return ResponsesTranslation.functionCallItem(id: itemID(index), status: itemStatus, callID: callID, name: name, arguments: arguments)
        }
    }

    private func itemID(_ index: Int) -> String {
        switch items[index] {
        case .message: return ResponsesTranslation.itemID("msg", of: responseID, index: index)
        case .call: return ResponsesTranslation.itemID("fc", of: responseID, index: index)
        }
    }

    /// The response as it stands, output and usage so far.
    private func snapshot(status: String) -> [String: JSONValue] {
        ResponsesTranslation.responseObject(
            id: responseID, createdAt: createdAt, model: model, request: request, status: status,
            output: items.indices.map { item($0, status: status) }, usage: ResponsesTranslation.usage(chatUsage))
    }

    private mutating func event(_ type: String, _ payload: [String: JSONValue]) -> ServerSentEvent {
        var data = payload
        data["type"] = .string(type)
        data["sequence_number"] = .number(Double(sequenceNumber))
        sequenceNumber += 1
        return ServerSentEvent(name: type, data: .object(data))
    }
}
