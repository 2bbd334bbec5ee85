import Foundation
import HTTPTypes
import NIOCore
import NIOHTTP1
import SwitchyardCore

/// Turns an Anthropic Messages answer into the OpenAI answer it stands for, as it arrives: errors and
/// whole messages once complete, event streams event by event.
final class AnthropicAnswerTranslator: UpstreamResponseHandler, UpstreamAttempt {
    private enum Mode {
        case waiting
        case whole(status: Int)
        case error(status: Int, retryAfter: String?)
        case stream
        case done
    }

    private let handler: any UpstreamResponseHandler
    private let stream: Bool
    var inner: (any UpstreamAttempt)?
    private var mode = Mode.waiting
    private var collected = ByteBuffer()
    private var events = ServerSentEventSplitter()
    private let maxEventBytes: Int
    private var translator: AnthropicStreamTranslator

    init(request: UpstreamRequest, handler: any UpstreamResponseHandler, maxEventBytes: Int) {
        self.handler = handler
        self.maxEventBytes = maxEventBytes
        self.stream = request.stream
        let includeUsage = request.body["stream_options"]?["include_usage"]?.boolValue == true
        translator = AnthropicStreamTranslator(created: Int(Date().timeIntervalSince1970), includeUsage: includeUsage)
    }

    func cancel() {
        mode = .done
        inner?.cancel()
        inner = nil
    }

    func pauseReading() { inner?.pauseReading() }
    func resumeReading() { inner?.resumeReading() }

    func upstreamHead(status: Int, headers: HTTPHeaders) {
        guard (200..<300).contains(status) else {
            mode = .error(status: status, retryAfter: headers.first(name: "retry-after"))
            return
        }
        if stream, headers.first(name: "content-type")?.hasPrefix("text/event-stream") ?? false {
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
        case .whole, .error:
            guard collected.readableBytes + buffer.readableBytes <= AnthropicUpstream.maxResponseBytes else { return }
            var buffer = buffer
            collected.writeBuffer(&buffer)
        case .stream:
            let translated = events.translate(buffer, maxEventBytes: maxEventBytes) { event, output in
                guard !translator.finished, let data = AnthropicUpstream.eventData(event), let json = try? JSONValue.parse(data) else { return }
                for payload in translator.translate(json) {
                    output.writeString("data: \(payload)\n\n")
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
        case .error(let status, let retryAfter):
            mode = .done
            let json = try? collected.withUnsafeReadableBytes { try JSONValue.parse(buffer: $0) }
            let (translatedStatus, body) = AnthropicTranslation.error(status: status, body: json)
            var headers = HTTPHeaders()
            headers.add(name: "content-type", value: "application/json")
            if let retryAfter { headers.add(name: "retry-after", value: retryAfter) }
            handler.deliverWhole(status: translatedStatus, headers: headers, body: ByteBuffer(bytes: body.jsonBytes))
        case .whole:
            mode = .done
            guard let message = try? collected.withUnsafeReadableBytes({ try JSONValue.parse(buffer: $0) }), message["type"]?.stringValue == "message"
            else {
                handler.upstreamFailed(
                    UpstreamFailure(kind: .answer, detail: "", error: .badUpstreamResponse("the Anthropic upstream's answer is not a message")))
                return
            }
            var headers = HTTPHeaders()
            headers.add(name: "content-type", value: "application/json")
            let answer = AnthropicTranslation.response(message, created: Int(Date().timeIntervalSince1970))
            handler.deliverWhole(status: 200, headers: headers, body: ByteBuffer(bytes: answer.jsonBytes))
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
        if let failure = translator.failure {
            let error = failure.body["error"]
            let gatewayError = GatewayError(
                status: .init(code: failure.status), message: error?["message"]?.stringValue ?? "Anthropic stream error",
                type: error?["type"]?.stringValue ?? "server_error", code: error?["code"]?.stringValue.map(GatewayError.Code.fromUpstream))
            handler.upstreamFailed(UpstreamFailure(kind: .answer, detail: "", error: gatewayError))
            return
        }
        guard translator.finished else {
            handler.upstreamFailed(
                UpstreamFailure(kind: .answer, detail: "", error: .badUpstreamResponse("Anthropic stream ended before message_stop")))
            return
        }
        handler.upstreamReadComplete()
        handler.upstreamEnd()
    }

}
