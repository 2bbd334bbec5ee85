import Foundation
import HTTPTypes
import NIOCore
import SwitchyardCore
import Synchronization

/// Switchyard's built-in simulated upstream (`format = "mock"`): answers chat completions by echoing
/// the last user message (legacy completions: the prompt), streams it in chunks, returns deterministic embeddings, and reports usage.
/// Chat answers say `system_fingerprint: "switchyard-mock"`. Latency, time to first token, chunk
/// count and error rate come from the backend's `mock` settings; a `seed` makes errors repeatable.
/// With `speaks = "anthropic"` it answers in Anthropic's format, translated back like a real Anthropic upstream.
package final class MockUpstream: Sendable {
    package static let fingerprint = "switchyard-mock"

    /// One random source per seeded backend, so a seed gives the same error sequence on every run.
    private let seededSources = Mutex<[String: SplitMix64]>([:])

    package init() {}

    /// The mock's answer to `request`, to be played on the event loop.
    func script(_ request: UpstreamRequest, backend: EffectiveConfiguration.Backend) throws -> MockScript {
        let mock = backend.mock
        if mock.errorRate > 0, draw(for: backend) < mock.errorRate {
            let error = GatewayError(
                status: .internalServerError, message: "Simulated upstream error (mock provider, error_rate \(mock.errorRate)).",
                type: "server_error", code: .mockError)
            return Self.json(status: 500, error.jsonBody, afterMilliseconds: mock.timeToFirstTokenMilliseconds)
        }
        switch request.endpoint {
        case .chatCompletions, .messages, .messagesCountTokens, .responses:
            // Anthropic clients' requests reach this mock translated to chat.
            return try chat(request, backend: backend)
        case .embeddings:
            return try Self.json(
                status: 200, embeddings(request, backend: backend),
                afterMilliseconds: mock.timeToFirstTokenMilliseconds + mock.latencyMilliseconds)
        case .completions:
            return textCompletion(request, backend: backend)
        }
    }

    func draw(for backend: EffectiveConfiguration.Backend) -> Double {
        guard let seed = backend.mock.seed else { return Double.random(in: 0..<1) }
        let key = "\(backend.label)#\(seed)"
        return seededSources.withLock { sources in
            var source = sources[key] ?? SplitMix64(seed: seed)
            let value = Double.random(in: 0..<1, using: &source)
            sources[key] = source
            return value
        }
    }

    // MARK: Chat

    private func chat(_ request: UpstreamRequest, backend: EffectiveConfiguration.Backend) throws -> MockScript {
        let mock = backend.mock
        let content = Self.lastUserMessage(in: request.body)
        let usage = Usage(prompt: Self.estimateTokens(Self.promptText(in: request.body)), completion: Self.estimateTokens(content))
        let id = "chatcmpl-mock-\(request.requestID)"
        let created = Int(Date().timeIntervalSince1970)
        guard request.stream else {
            let completion = Completion(
                id: id, created: created, model: backend.upstreamModel,
                choices: [.init(message: .init(content: content))], usage: usage)
            return try Self.json(
                status: 200, Self.encode(completion), afterMilliseconds: mock.timeToFirstTokenMilliseconds + mock.latencyMilliseconds)
        }
        let includeUsage = request.body["stream_options"]?["include_usage"]?.boolValue == true
        var events: [ByteBuffer] = []
        let pieces = Self.split(content, into: mock.chunks)
        for (index, piece) in pieces.enumerated() {
            let chunk = Chunk(
                id: id, created: created, model: backend.upstreamModel,
                choices: [.init(delta: .init(role: index == 0 ? "assistant" : nil, content: piece), finishReason: nil)])
            events.append(try Self.event(Self.encode(chunk)))
        }
        let finish = Chunk(
            id: id, created: created, model: backend.upstreamModel, choices: [.init(delta: .init(), finishReason: "stop")])
        events.append(try Self.event(Self.encode(finish)))
        if includeUsage {
            let usageChunk = Chunk(id: id, created: created, model: backend.upstreamModel, choices: [], usage: usage)
            events.append(try Self.event(Self.encode(usageChunk)))
        }
        events.append(ByteBuffer(string: "data: [DONE]\n\n"))

        // The content chunks after the first are spread over the latency.
        return Self.pacedStream(
            events.enumerated().map { ($1, $0 > 0 && $0 <= pieces.count) }, firstAfterMilliseconds: mock.timeToFirstTokenMilliseconds,
            gapMilliseconds: mock.latencyMilliseconds / Double(max(pieces.count, 1)))
    }

    /// An event stream whose head comes at once, its first event after `firstAfterMilliseconds`, and
    /// each event marked `paced` one gap after the one before it.
    static func pacedStream(
        _ events: [(bytes: ByteBuffer, paced: Bool)], firstAfterMilliseconds: Double, gapMilliseconds: Double
    ) -> MockScript {
        MockScript(
            status: 200, contentType: "text/event-stream", headFirst: true, firstAfterMilliseconds: firstAfterMilliseconds, events: events,
            gapMilliseconds: gapMilliseconds)
    }

    static func lastUserMessage(in body: [String: JSONValue]) -> String {
        guard let messages = body["messages"]?.arrayValue,
            let message = messages.last(where: { $0["role"]?.stringValue == "user" })
        else { return "" }
        return text(of: message["content"])
    }

    static func promptText(in body: [String: JSONValue]) -> String {
        (body["messages"]?.arrayValue ?? []).map { text(of: $0["content"]) }.joined(separator: "\n")
    }

    /// A message's text: a string, or the `text` parts of a content array.
    static func text(of content: JSONValue?) -> String {
        switch content {
        case .string(let text)?: return text
        case .array(let parts)?: return parts.compactMap { $0["text"]?.stringValue }.joined()
        default: return ""
        }
    }

    /// About four characters a token, at least one.
    static func estimateTokens(_ text: String) -> Int {
        max(1, (text.count + 3) / 4)
    }

    static func split(_ text: String, into count: Int) -> [String] {
        let characters = Array(text)
        let pieces = max(1, min(count, characters.count))
        let size = (characters.count + pieces - 1) / max(pieces, 1)
        guard size > 0 else { return [""] }
        return stride(from: 0, to: characters.count, by: size).map { String(characters[$0..<min($0 + size, characters.count)]) }
    }

    // MARK: Embeddings

    private func embeddings(_ request: UpstreamRequest, backend: EffectiveConfiguration.Backend) throws -> ByteBuffer {
        let inputs: [String]
        switch request.body["input"] {
        case .string(let text)?: inputs = [text]
        case .array(let items)?:
            inputs = items.map { item in
                switch item {
                case .string(let text): return text
                case .array(let tokens): return tokens.map { "\($0.numberValue ?? 0)" }.joined(separator: " ")
                default: return "\(item.numberValue ?? 0)"
                }
            }
        default: inputs = []
        }
        let dimensions = request.body["dimensions"]?.intValue(clampedTo: 1...4096) ?? 16
        let base64 = request.body["encoding_format"]?.stringValue == "base64"
        let data: [EmbeddingList.Item] = inputs.enumerated().map { index, text in
            let vector = Self.vector(for: text, dimensions: dimensions)
            if base64 {
                var bytes: [UInt8] = []
                bytes.reserveCapacity(vector.count * 4)
                for value in vector {
                    withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
                }
                return .init(index: index, embedding: .string(Data(bytes).base64EncodedString()))
            }
            return .init(index: index, embedding: .array(vector.map { .number(Double($0)) }))
        }
        let tokens = inputs.reduce(0) { $0 + Self.estimateTokens($1) }
        let list = EmbeddingList(data: data, model: backend.upstreamModel, usage: .init(promptTokens: tokens, totalTokens: tokens))
        return try Self.encode(list)
    }

    /// A unit vector derived from the text alone: the same text always embeds the same way.
    static func vector(for text: String, dimensions: Int) -> [Float] {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3
        }
        var source = SplitMix64(seed: hash)
        let raw = (0..<dimensions).map { _ in Float.random(in: -1...1, using: &source) }
        let norm = max(raw.reduce(0) { $0 + $1 * $1 }.squareRoot(), .leastNonzeroMagnitude)
        return raw.map { $0 / norm }
    }

    // MARK: Wire shapes

    private struct Usage: Encodable {
        var promptTokens: Int
        var completionTokens: Int
        var totalTokens: Int

        init(prompt: Int, completion: Int) {
            promptTokens = prompt
            completionTokens = completion
            totalTokens = prompt + completion
        }
    }

    private struct Completion: Encodable {
        struct Choice: Encodable {
            struct Message: Encodable {
                var role = "assistant"
                var content: String
            }

            var index = 0
            var message: Message
            var finishReason = "stop"
        }

        var id: String
        var object = "chat.completion"
        var created: Int
        var model: String
        var systemFingerprint = MockUpstream.fingerprint
        var choices: [Choice]
        var usage: Usage

        init(id: String, created: Int, model: String, choices: [Choice], usage: Usage) {
            self.id = id
            self.created = created
            self.model = model
            self.choices = choices
            self.usage = usage
        }
    }

    private struct Chunk: Encodable {
        struct Choice: Encodable {
            struct Delta: Encodable {
                var role: String?
                var content: String?
            }

            var index = 0
            var delta: Delta
            var finishReason: String?

            init(delta: Delta, finishReason: String?) {
                self.delta = delta
                self.finishReason = finishReason
            }

            func encode(to encoder: any Encoder) throws {
                var container = encoder.container(keyedBy: CodingKeys.self)
                try container.encode(index, forKey: .index)
                try container.encode(delta, forKey: .delta)
                try container.encode(finishReason, forKey: .finishReason)
            }

            enum CodingKeys: String, CodingKey { case index, delta, finishReason }
        }

        var id: String
        var object = "chat.completion.chunk"
        var created: Int
        var model: String
        var systemFingerprint = MockUpstream.fingerprint
        var choices: [Choice]
        var usage: Usage?

        init(id: String, created: Int, model: String, choices: [Choice], usage: Usage? = nil) {
            self.id = id
            self.created = created
            self.model = model
            self.choices = choices
            self.usage = usage
        }
    }

    private struct EmbeddingList: Encodable {
        struct Item: Encodable {
            var object = "embedding"
            var index: Int
            var embedding: JSONValue

            init(index: Int, embedding: JSONValue) {
                self.index = index
                self.embedding = embedding
            }
        }

        struct EmbeddingUsage: Encodable {
            var promptTokens: Int
            var totalTokens: Int
        }

        var object = "list"
        var data: [Item]
        var model: String
        var usage: EmbeddingUsage

        init(data: [Item], model: String, usage: EmbeddingUsage) {
            self.data = data
            self.model = model
            self.usage = usage
        }
    }

    static func encode(_ value: some Encodable) throws -> ByteBuffer {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        return ByteBuffer(bytes: try encoder.encode(value))
    }

    static func event(_ json: ByteBuffer) -> ByteBuffer {
        var buffer = ByteBuffer(string: "data: ")
        var json = json
        buffer.writeBuffer(&json)
        buffer.writeString("\n\n")
        return buffer
    }

    /// A whole JSON answer, head and body together after `afterMilliseconds`.
    static func json(status: Int, _ body: ByteBuffer, afterMilliseconds: Double) -> MockScript {
        MockScript(
            status: status, contentType: "application/json", headFirst: false, firstAfterMilliseconds: afterMilliseconds,
            events: [(body, false)], gapMilliseconds: 0)
    }
}

/// What the mock answers, and when: played on the event loop by `MockPlayback`.
struct MockScript {
    var status: Int
    var contentType: String
    /// The head comes at once (streams); otherwise with the first event.
    var headFirst: Bool
    var firstAfterMilliseconds: Double
    var events: [(bytes: ByteBuffer, paced: Bool)]
    /// The wait before each event marked `paced`.
    var gapMilliseconds: Double
}
