import SwitchyardCore

/// Token usage read from an OpenAI response or stream chunk without parsing the whole document:
/// the value of the last `"usage"` key outside a string is read, and the document is parsed whole
/// only when that is not a plausible usage object.
enum UsageReader {
    static func usage(in bytes: UnsafeRawBufferPointer) -> TokenUsage? {
        if let offset = lastUsageValueOffset(in: bytes) {
            let read = JSONCountsReader.counts(
                in: bytes, at: offset, named: ("prompt_tokens", "completion_tokens"), noting: "prompt_tokens_details")
            switch read.found {
            case .null: return nil
            case .object(let input, let output) where input != nil || output != nil:
                var usage = TokenUsage(input: input ?? 0, output: output ?? 0)
                // Cached reads and writes are nested one level down: read where they stand too.
                if let details = read.nestedOffset,
                    case .object(let cached, let written)? = JSONCountsReader.counts(
                        in: bytes, at: details, named: ("cached_tokens", "cache_write_tokens"))
                {
                    usage.cachedInput = cached ?? 0
                    usage.cacheWrite = written ?? 0
                }
                return usage
            default: break
            }
        }
        guard case .object(let object)? = try? JSONValue.parse(buffer: bytes) else { return nil }
        return object["usage"].flatMap(tokenUsage)
    }

    /// The usage of a whole answer in a dialect other than chat's: an Anthropic message, a Responses `response`.
    static func usage(in bytes: UnsafeRawBufferPointer, endpoint: Endpoint) -> TokenUsage? {
        guard case .object(let object)? = try? JSONValue.parse(buffer: bytes), let usage = object["usage"], usage.objectValue != nil else {
            return nil
        }
        return endpoint.isAnthropic ? TokenUsage(anthropic: usage) : TokenUsage(responses: usage)
    }

    /// Usage so far after one stream event in a dialect other than chat's: Anthropic's `message_start`
    /// carries it in its message and `message_delta` at the top; the Responses API's final
    /// `response.completed` (or `incomplete`, `failed`) in its response.
    static func merging(event data: JSONValue, endpoint: Endpoint, into usage: TokenUsage?) -> TokenUsage? {
        guard endpoint.isAnthropic else {
            guard let found = data["response"]?["usage"], found.objectValue != nil else { return usage }
            return TokenUsage(responses: found)
        }
        guard let found = data["message"]?["usage"] ?? data["usage"], found.objectValue != nil else { return usage }
        var merged = usage ?? TokenUsage(input: 0, output: 0)
        merged.merge(anthropic: found)
        return merged
    }

    /// The top-level `model` of an answer or stream chunk (`gen_ai.response.model`).
    static func responseModel(in bytes: UnsafeRawBufferPointer) -> String? {
        guard case .object(let object)? = try? JSONValue.parse(buffer: bytes), case .string(let model)? = object["model"] else { return nil }
        return model
    }

    /// The top-level `id` of a Responses API `response`.
    static func responseID(in bytes: UnsafeRawBufferPointer) -> String? {
        guard let scan = try? RequestBodyScan.scan(bytes), let member = scan.members.last(where: { $0.key == "id" }),
            case .string(let id)? = try? JSONValue.parse(buffer: UnsafeRawBufferPointer(rebasing: bytes[member.valueRange]))
        else { return nil }
        return id
    }

    /// Whether the document is the final chunk `stream_options.include_usage` adds: usage and no choices.
    static func isUsageOnlyChunk(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard case .object(let object)? = try? JSONValue.parse(buffer: bytes) else { return false }
        return object["usage"]?.objectValue != nil && (object["choices"]?.arrayValue?.isEmpty ?? true)
    }

    static func tokenUsage(_ value: JSONValue) -> TokenUsage? {
        guard case .object(let usage) = value else { return nil }
        guard usage["prompt_tokens"]?.intValue() != nil || usage["completion_tokens"]?.intValue() != nil else { return nil }
        return TokenUsage(chat: value)
    }

    /// Where the value after the last unescaped `"usage"` key starts (just past its colon).
    private static func lastUsageValueOffset(in bytes: UnsafeRawBufferPointer) -> Int? {
        let key = Array(#""usage""#.utf8)
        var start = bytes.count - key.count
        while start >= 0 {
            if bytes[start] == key[0], bytes[start + 1] == key[1], zip(key.indices, key).allSatisfy({ bytes[start + $0] == $1 }) {
                var backslashes = 0
                while start - backslashes - 1 >= 0, bytes[start - backslashes - 1] == UInt8(ascii: "\\") { backslashes += 1 }
                if backslashes % 2 == 0 {
                    var index = start + key.count
                    while index < bytes.count, bytes[index] == 0x20 || bytes[index] == 0x0A || bytes[index] == 0x0D || bytes[index] == 0x09 {
                        index += 1
                    }
                    if index < bytes.count, bytes[index] == UInt8(ascii: ":") { return index + 1 }
                }
            }
            start -= 1
        }
        return nil
    }
}
