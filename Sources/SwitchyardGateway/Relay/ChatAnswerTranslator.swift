import Foundation
import HTTPTypes
import NIOCore
import NIOHTTP1
import SwitchyardCore

/// Turns a chat completion answer into the answer a client of another dialect expects, as it
/// arrives: whole answers and errors once complete, event streams chunk by chunk. Anthropic
/// Messages clients (`/v1/messages`) get a `message` or its events (`AnthropicClientStreamTranslator`,
/// the reverse of `AnthropicAnswerTranslator`); Responses clients (`/v1/responses`) a `response`
/// or its typed events (`ResponsesStreamTranslator`).
final class ChatAnswerTranslator: UpstreamResponseHandler, UpstreamAttempt {
    /// The client's dialect, with the state its stream translation keeps.
    enum Target {
        case anthropic(AnthropicClientStreamTranslator)
        case responses(ResponsesStreamTranslator, request: [String: JSONValue], id: String, createdAt: Int)

        var finished: Bool {
            switch self {
            case .anthropic(let translator): translator.finished
            case .responses(let translator, _, _, _): translator.finished
            }
        }

        mutating func translate(_ chunk: JSONValue) -> [ServerSentEvent] {
            switch self {
            case .anthropic(var translator):
                defer { self = .anthropic(translator) }
                return translator.translate(chunk)
            case .responses(var translator, let request, let id, let createdAt):
                defer { self = .responses(translator, request: request, id: id, createdAt: createdAt) }
                return translator.translate(chunk)
            }
        }

        mutating func finish() -> [ServerSentEvent] {
            switch self {
            case .anthropic(var translator):
                defer { self = .anthropic(translator) }
                return translator.finish()
            case .responses(var translator, let request, let id, let createdAt):
                defer { self = .responses(translator, request: request, id: id, createdAt: createdAt) }
                return translator.finish()
            }
        }

        /// The client's answer for a whole chat completion.
        func answer(_ completion: JSONValue) -> JSONValue {
            switch self {
            case .anthropic: AnthropicClientTranslation.message(completion)
            case .responses(_, let request, let id, let createdAt):
                ResponsesTranslation.response(completion, request: request, id: id, createdAt: createdAt)
            }
        }

        /// The client's error body for a chat backend's error; `nil` keeps OpenAI's shape as it came.
        func error(status: Int, body: JSONValue) -> JSONValue? {
            switch self {
            case .anthropic: AnthropicClientTranslation.error(status: status, openAIBody: body)
            case .responses: nil
            }
        }
    }

    private enum Mode {
        case waiting
        case whole(status: Int)
        case stream
        case done
    }

    private let handler: any UpstreamResponseHandler
    private let stream: Bool
    var inner: (any UpstreamAttempt)?
    private var mode = Mode.waiting
    private var contentType: String?
    private var retryAfter: String?
    private var collected = ByteBuffer()
    private var events = ServerSentEventSplitter()
    private let maxEventBytes: Int
    private var translator: Target

    init(_ target: Target, stream: Bool, handler: any UpstreamResponseHandler, maxEventBytes: Int) {
        translator = target
        self.handler = handler
        self.stream = stream
        self.maxEventBytes = maxEventBytes
    }

    func cancel() {
        mode = .done
        inner?.cancel()
        inner = nil
    }

    func pauseReading() { inner?.pauseReading() }
    func resumeReading() { inner?.resumeReading() }

    func upstreamHead(status: Int, headers: HTTPHeaders) {
        contentType = headers.first(name: "content-type")
        retryAfter = headers.first(name: "retry-after")
        if stream, (200..<300).contains(status), contentType?.hasPrefix("text/event-stream") ?? false {
            mode = .stream
            var translated = HTTPHeaders()
            translated.add(name: "content-type", value: "text/event-stream")
            handler.upstreamHead(status: 200, headers: translated)
        } else {
            mode = .whole(status: status)
        }
    }

    func upstreamBody(_ buffer: ByteBuffer) {
        switch mode {
        case .whole:
            guard collected.readableBytes + buffer.readableBytes <= ClientExchange.maxUpstreamBodyBytes else { return }
            var buffer = buffer
            collected.writeBuffer(&buffer)
        case .stream:
            let translated = events.translate(buffer, maxEventBytes: maxEventBytes) { event, output in
                guard !translator.finished else { return }
                if Endpoint.chatCompletions.endsStream(event) {
                    for translated in translator.finish() { output.writeBytes(translated.bytes) }
                } else if let json = ClientExchange.withEventData(event, { try? JSONValue.parse(buffer: $0) }) ?? nil {
                    for translated in translator.translate(json) { output.writeBytes(translated.bytes) }
                }
            }
            guard let output = translated else {
                cancel()
                handler.upstreamFailed(UpstreamFailure(kind: .answer, detail: "", error: Relay.eventTooLarge(maxEventBytes)))
                return
            }
            if output.readableBytes > 0 { handler.upstreamBody(output) }
            if translator.finished { finishStream() }
        case .waiting, .done:
            break
        }
    }

    func upstreamReadComplete() {
        handler.upstreamReadComplete()
    }

    func upstreamEnd() {
        switch mode {
        case .whole(let status):
            mode = .done
            let json = try? collected.withUnsafeReadableBytes { try JSONValue.parse(buffer: $0) }
            var headers = HTTPHeaders()
            headers.add(name: "content-type", value: "application/json")
            if (200..<300).contains(status) {
                // Not a chat completion (an HTML page, a proxy's text): the exchange fails the backend on the original.
                guard let json, json["choices"] != nil, contentType.map(ClientExchange.mentionsJSON) ?? true else {
                    if let contentType { headers.replaceOrAdd(name: "content-type", value: contentType) }
                    return handler.deliverWhole(status: status, headers: headers, body: collected)
                }
                return deliver(status: status, headers: headers, json: translator.answer(json))
            }
            if let retryAfter { headers.add(name: "retry-after", value: retryAfter) }
            guard let json, json["error"] != nil else {
                // The exchange names the upstream status in a 502 of its own; the text is not passed on.
                return handler.deliverWhole(status: status, headers: HTTPHeaders([("content-type", contentType ?? "text/plain")]), body: collected)
            }
            guard let translated = translator.error(status: status, body: json) else {
                return handler.deliverWhole(status: status, headers: headers, body: collected)
            }
            deliver(status: status, headers: headers, json: translated)
        case .stream:
            finishStream()
        case .waiting, .done:
            break
        }
    }

    func upstreamFailed(_ failure: UpstreamFailure) {
        mode = .done
        handler.upstreamFailed(failure)
    }

    private func finishStream() {
        guard case .stream = mode else { return }
        mode = .done
        inner?.cancel()
        inner = nil
        // A chat stream that ended without `[DONE]` ends without the dialect's end: the exchange ends it with an error event.
        handler.upstreamReadComplete()
        handler.upstreamEnd()
    }

    private func deliver(status: Int, headers: HTTPHeaders, json: JSONValue) {
        handler.deliverWhole(status: status, headers: headers, body: ByteBuffer(bytes: json.jsonBytes))
    }
}
