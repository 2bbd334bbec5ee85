import Foundation
import NIOCore
import SwitchyardCore

extension MockUpstream {
    /// The mock's answer to a legacy text completion (`POST /v1/completions`): the prompt echoed as a
    /// `text_completion`, or streamed in chunks of the same object with usage last when asked for.
    func textCompletion(_ request: UpstreamRequest, backend: EffectiveConfiguration.Backend) -> MockScript {
        let mock = backend.mock
        let prompt = Self.promptOfCompletion(request.body["prompt"])
        let promptTokens = Self.estimateTokens(prompt)
        let completionTokens = Self.estimateTokens(prompt)
        let usage: JSONValue = .object([
            "prompt_tokens": .number(Double(promptTokens)), "completion_tokens": .number(Double(completionTokens)),
            "total_tokens": .number(Double(promptTokens + completionTokens)),
        ])
        let id = "cmpl-mock-\(request.requestID)"
        let created = JSONValue.number(Double(Int(Date().timeIntervalSince1970)))
        let model = JSONValue.string(backend.upstreamModel)
        func completion(text: String, finishReason: JSONValue, usage: JSONValue?) -> ByteBuffer {
            var object: [String: JSONValue] = [
                "id": .string(id), "object": "text_completion", "created": created, "model": model,
                "system_fingerprint": .string(Self.fingerprint),
                "choices": .array([.object(["text": .string(text), "index": 0, "logprobs": .null, "finish_reason": finishReason])]),
            ]
            if let usage { object["usage"] = usage }
            return ByteBuffer(bytes: JSONValue.object(object).jsonBytes)
        }
        guard request.stream else {
            return Self.json(
                status: 200, completion(text: prompt, finishReason: "stop", usage: usage),
                afterMilliseconds: mock.timeToFirstTokenMilliseconds + mock.latencyMilliseconds)
        }
        let pieces = Self.split(prompt, into: mock.chunks)
        var events: [(bytes: ByteBuffer, paced: Bool)] = pieces.enumerated().map { index, piece in
            (Self.event(completion(text: piece, finishReason: .null, usage: nil)), index > 0)
        }
        events.append((Self.event(completion(text: "", finishReason: "stop", usage: nil)), false))
        if request.body["stream_options"]?["include_usage"]?.boolValue == true {
            var usageChunk: [String: JSONValue] = [
                "id": .string(id), "object": "text_completion", "created": created, "model": model, "choices": .array([]), "usage": usage,
            ]
            usageChunk["system_fingerprint"] = .string(Self.fingerprint)
            events.append((Self.event(ByteBuffer(bytes: JSONValue.object(usageChunk).jsonBytes)), false))
        }
        events.append((ByteBuffer(string: "data: [DONE]\n\n"), false))
        return Self.pacedStream(
            events, firstAfterMilliseconds: mock.timeToFirstTokenMilliseconds,
            gapMilliseconds: mock.latencyMilliseconds / Double(max(pieces.count, 1)))
    }

    /// The text of a completion's `prompt`: a string, or the first of an array of strings.
    static func promptOfCompletion(_ prompt: JSONValue?) -> String {
        switch prompt {
        case .string(let text)?: return text
        case .array(let items)?: return items.first?.stringValue ?? ""
        default: return ""
        }
    }
}
