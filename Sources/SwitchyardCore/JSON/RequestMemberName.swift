/// The member names a request body scan looks for. Comparing decoded bytes is the same as comparing `String`s here:
/// no other character sequence is canonically equivalent to these ASCII names.
enum RequestMemberName {
    case model, stream, user, streamOptions, includeUsage, messages, input, maxTokens, maxCompletionTokens
    case role, content, text
    case other

    init(_ bytes: UnsafeRawBufferPointer) {
        // Only called with a name of the same length.
        func spells(_ name: StaticString) -> Bool {
            for offset in 0..<bytes.count where bytes[offset] != name.utf8Start[offset] { return false }
            return true
        }
        switch bytes.count {
        case 4: self = spells("user") ? .user : spells("role") ? .role : spells("text") ? .text : .other
        case 5: self = spells("model") ? .model : spells("input") ? .input : .other
        case 6: self = spells("stream") ? .stream : .other
        case 7: self = spells("content") ? .content : .other
        case 8: self = spells("messages") ? .messages : .other
        case 10: self = spells("max_tokens") ? .maxTokens : .other
        case 13: self = spells("include_usage") ? .includeUsage : .other
        case 14: self = spells("stream_options") ? .streamOptions : .other
        case 21: self = spells("max_completion_tokens") ? .maxCompletionTokens : .other
        default: self = .other
        }
    }
}
