import Foundation
import NIOCore
import SwitchyardCore

extension MockUpstream {
    /// The mock's answer as an Anthropic upstream gives it (`speaks = "anthropic"`): a message, its
    /// event stream, or an Anthropic error. The request goes through the same translation as for a real one.
    func anthropicScript(_ request: UpstreamRequest, backend: EffectiveConfiguration.Backend) throws -> MockScript {
        let mock = backend.mock
        // A `/v1/messages` client's request is in Anthropic's format already; a chat request is translated like a real one.
        let translated = request.endpoint.isAnthropic ? nil : try AnthropicUpstream.translatedRequest(request, model: backend.upstreamModel)
        if request.endpoint == .messagesCountTokens {
            let count: JSONValue = .object(["input_tokens": .number(Double(Self.estimateTokens(Self.promptText(in: request.body))))])
            return Self.json(status: 200, ByteBuffer(bytes: count.jsonBytes), afterMilliseconds: 0)
        }
        if mock.errorRate > 0, draw(for: backend) < mock.errorRate {
            let error: JSONValue = .object([
                "type": "error",
                "error": .object([
                    "type": "api_error", "message": .string("Simulated upstream error (mock provider, error_rate \(mock.errorRate))."),
                ]),
            ])
            return Self.json(status: 500, ByteBuffer(bytes: error.jsonBytes), afterMilliseconds: mock.timeToFirstTokenMilliseconds)
        }
        let content = Self.lastUserMessage(in: request.body)
        let inputTokens = Self.estimateTokens(Self.promptText(in: request.body))
        let outputTokens = Self.estimateTokens(content)
        let id = "msg_mock_\(request.requestID)"
        let model = translated?["model"] ?? .string(backend.upstreamModel)
        guard request.stream else {
            let message: JSONValue = .object([
                "id": .string(id), "type": "message", "role": "assistant", "model": model,
                "content": .array([.object(["type": "text", "text": .string(content)])]), "stop_reason": "end_turn", "stop_sequence": .null,
                "usage": .object(["input_tokens": .number(Double(inputTokens)), "output_tokens": .number(Double(outputTokens))]),
            ])
            return Self.json(
                status: 200, ByteBuffer(bytes: message.jsonBytes), afterMilliseconds: mock.timeToFirstTokenMilliseconds + mock.latencyMilliseconds)
        }
        let pieces = Self.split(content, into: mock.chunks)
        var events: [(String, JSONValue)] = [
            (
                "message_start",
                .object([
                    "type": "message_start",
                    "message": .object([
                        "id": .string(id), "type": "message", "role": "assistant", "model": model, "content": .array([]),
                        "stop_reason": .null, "stop_sequence": .null,
                        "usage": .object(["input_tokens": .number(Double(inputTokens)), "output_tokens": 1]),
                    ]),
                ])
            ),
            ("content_block_start", .object(["type": "content_block_start", "index": 0, "content_block": .object(["type": "text", "text": ""])])),
            ("ping", .object(["type": "ping"])),
        ]
        for piece in pieces {
            events.append(
                (
                    "content_block_delta",
                    .object(["type": "content_block_delta", "index": 0, "delta": .object(["type": "text_delta", "text": .string(piece)])])
                ))
        }
        events.append(("content_block_stop", .object(["type": "content_block_stop", "index": 0])))
        events.append(
            (
                "message_delta",
                .object([
                    "type": "message_delta", "delta": .object(["stop_reason": "end_turn", "stop_sequence": .null]),
                    "usage": .object(["output_tokens": .number(Double(outputTokens))]),
                ])
            ))
        events.append(("message_stop", .object(["type": "message_stop"])))

        let framed = events.map { name, data -> (bytes: ByteBuffer, paced: Bool) in
            var buffer = ByteBuffer(string: "event: \(name)\ndata: ")
            buffer.writeBytes(data.jsonBytes)
            buffer.writeString("\n\n")
            return (buffer, name == "content_block_delta")
        }
        return Self.pacedStream(
            framed, firstAfterMilliseconds: mock.timeToFirstTokenMilliseconds,
            gapMilliseconds: mock.latencyMilliseconds / Double(max(pieces.count, 1)))
    }
}
