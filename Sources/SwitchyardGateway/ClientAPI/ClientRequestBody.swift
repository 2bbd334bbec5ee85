import NIOCore
import SwitchyardCore

/// A client's request body as the gateway reads it: the fields routing needs, found by one pass over
/// the bytes, and the upstream body made by splicing into the original bytes (no JSON tree on the
/// pass-through path).
struct ClientRequestBody {
    let bytes: ByteBuffer
    let scan: RequestBodyScan
    /// A Responses request's `previous_response_id`: the conversation goes where that response was made.
    private(set) var previousResponseID: String?
    /// Whether a Responses request lets the provider keep the response (`store` is not `false`).
    private(set) var storesResponse = false

    /// Reads and checks the body of a request to `endpoint`; errors name the field, as OpenAI does.
    init(_ bytes: ByteBuffer, endpoint: Endpoint) throws(GatewayError) {
        self.bytes = bytes
        do {
            scan = try bytes.withUnsafeReadableBytes { try RequestBodyScan.scan($0) }
        } catch {
            throw GatewayError.invalidRequest("We could not parse the JSON body of your request (\(error)).")
        }
        guard scan.isObject else { throw GatewayError.invalidRequest("The request body must be a JSON object.") }
        guard let model = scan.model, !model.isEmpty else {
            throw GatewayError.invalidRequest("you must provide a model parameter", param: "model")
        }
        guard !scan.streamHasInvalidType else { throw GatewayError.invalidRequest("'stream' must be a boolean", param: "stream") }
        switch endpoint {
        case .chatCompletions:
            guard scan.hasMessages else { throw GatewayError.invalidRequest("'messages' must be a non-empty array", param: "messages") }
        case .embeddings:
            guard scan.hasInput else { throw GatewayError.invalidRequest("'input' is required", param: "input") }
            guard !stream else { throw GatewayError.invalidRequest("embeddings cannot be streamed", param: "stream") }
        case .messages, .messagesCountTokens:
            guard scan.hasMessages else { throw GatewayError.invalidRequest("'messages' must be a non-empty array", param: "messages") }
            guard !(endpoint == .messagesCountTokens && stream) else {
                throw GatewayError.invalidRequest("token counts cannot be streamed", param: "stream")
            }
        case .responses:
            guard scan.hasInput else { throw GatewayError.invalidRequest("'input' is required", param: "input") }
            switch value(of: "previous_response_id") {
            case .string(let id): previousResponseID = id
            case nil, .null: break
            default: throw GatewayError.invalidRequest("'previous_response_id' must be a string", param: "previous_response_id")
            }
            storesResponse = value(of: "store") != .bool(false)
        case .completions:
            guard scan.members.contains(where: { $0.key == "prompt" }) else {
                throw GatewayError.invalidRequest("'prompt' is required", param: "prompt")
            }
        }
    }

    /// A top-level member's value (the last one when repeated), for the few the scan does not keep.
    func value(of key: String) -> JSONValue? {
        guard let member = scan.members.last(where: { $0.key == key }) else { return nil }
        return bytes.withUnsafeReadableBytes { try? JSONValue.parse(buffer: UnsafeRawBufferPointer(rebasing: $0[member.valueRange])) }
    }

    var model: String { scan.model ?? "" }
    var stream: Bool { scan.stream ?? false }
    var endUser: String? { scan.user }
    var clientWantsUsage: Bool { scan.includeUsage == true }

    /// Prompt tokens from the text size (about four characters a token); output from `max_tokens`, else 256.
    var estimate: RequestEstimate {
        RequestEstimate(inputTokens: max(1, scan.promptBytes / 4), outputTokens: scan.maxTokens ?? 256)
    }

    /// The body for one backend: `model` replaced, the version's `params` applied, and usage asked for
    /// on streams. Every other byte is the client's, numbers included.
    func upstreamBody(model: String, params: [String: JSONValue], endpoint: Endpoint, allocator: ByteBufferAllocator) -> ByteBuffer {
        var rewrite = RequestBodyRewrite(scan: scan)
        rewrite.setModel(model)
        for (key, value) in params {
            if key == "system_prompt" {
                guard endpoint == .chatCompletions, case .string(let prompt) = value else { continue }
                rewrite.setSystemPrompt(prompt)
            } else if key != "model" {
                // A token count takes no sampling parameters: Anthropic refuses unknown members.
                guard endpoint != .messagesCountTokens else { continue }
                rewrite.setMember(key, to: value)
            }
        }
        // Anthropic and Responses streams carry usage on their own, and refuse `stream_options.include_usage`.
        if stream && endpoint.isChatShaped { rewrite.includeUsageInStream() }
        return bytes.withUnsafeReadableBytes { original in
            var output = allocator.buffer(capacity: original.count + 64)
            output.writeBytes(rewrite.apply(to: original))
            return output
        }
    }
}
