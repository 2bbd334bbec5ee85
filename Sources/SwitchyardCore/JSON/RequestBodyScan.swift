/// What the gateway needs from an OpenAI client request body, found in one validating pass over its bytes without
/// building a JSON tree: the top-level members and where their values are, the fields that route the request, the
/// messages' places and roles, and the prompt size.
///
/// A body is accepted exactly when `JSONValue.parse` accepts it, and every decoded field is what that parse would
/// give, duplicate keys included (the last one wins, as in `JSONValue.object`).
package struct RequestBodyScan: Sendable {
    /// One top-level member, in the order of the body. All duplicates are listed.
    package struct Member: Sendable, Hashable {
        package var key: String
        /// Where the key's opening `"` is.
        package var keyStart: Int
        /// From the value's first byte to its last.
        package var valueRange: Range<Int>
        package var kind: JSONValueKind
    }

    /// One element of the top-level `messages` array.
    package struct Message: Sendable, Hashable {
        /// From the element's first byte to its last.
        package var range: Range<Int>
        /// The element's `role` when the element is an object and its role a string.
        package var role: String?
    }

    /// The top-level `stream_options` object.
    package struct StreamOptions: Sendable, Hashable {
        /// The value's bytes, from `{` to `}`.
        package var range: Range<Int>
        /// Whether the object has any member.
        package var hasMembers: Bool
        /// `include_usage` when it is a boolean.
        package var includeUsage: Bool?
        /// The values of all `include_usage` members, duplicates included.
        package var includeUsageRanges: [Range<Int>]
    }

    /// Whether the document is an object; when it is not, every other field is empty.
    package fileprivate(set) var isObject = false
    /// Where the top-level object's closing `}` is: new members go there.
    package fileprivate(set) var objectEnd = 0
    package fileprivate(set) var members: [Member] = []
    /// `model` when it is a string.
    package fileprivate(set) var model: String?
    /// `stream` when it is a boolean.
    package fileprivate(set) var stream: Bool?
    /// Whether `stream` is there with a type other than boolean or null, which the gateway refuses.
    package fileprivate(set) var streamHasInvalidType = false
    /// `user` when it is a string.
    package fileprivate(set) var user: String?
    /// `stream_options` when it is an object.
    package fileprivate(set) var streamOptions: StreamOptions?
    /// The elements of `messages` when it is an array.
    package fileprivate(set) var messages: [Message]?
    /// Whether `input` is there and not null.
    package fileprivate(set) var hasInput = false
    /// `max_completion_tokens` when there, else `max_tokens`, as a whole number clamped to 0...10 000 000; `nil` when
    /// the member used is not a number.
    package fileprivate(set) var maxTokens: Int?
    /// UTF-8 bytes of prompt text once decoded: every message's string `content` or its parts' string `text`, and
    /// `input` when it is a string.
    package fileprivate(set) var promptBytes = 0

    /// `stream_options.include_usage` when `stream_options` is an object and the member a boolean.
    package var includeUsage: Bool? { streamOptions?.includeUsage }

    /// Whether `messages` is an array with at least one element.
    package var hasMessages: Bool { !(messages?.isEmpty ?? true) }

    /// The member named `key` that counts, which is the last one.
    package func lastMember(named key: String) -> Member? {
        members.last { $0.key == key }
    }

    /// Scans a whole body; throws the error `JSONValue.parse` would throw for it.
    package static func scan(_ bytes: UnsafeRawBufferPointer) throws(JSONParseError) -> RequestBodyScan {
        var scanner = RequestBodyScanner(bytes: bytes)
        return try scanner.scanDocument()
    }

    /// Scans a whole body; throws the error `JSONValue.parse` would throw for it.
    package static func scan(_ bytes: [UInt8]) throws(JSONParseError) -> RequestBodyScan {
        try bytes.withUnsafeBytes { buffer in
            Result { () throws(JSONParseError) -> RequestBodyScan in try scan(buffer) }
        }.get()
    }
}

/// One pass over a request body that fills a `RequestBodyScan`. Depths are those `JSONValue.parse` counts: the
/// document is at 0, top-level members at 1.
private struct RequestBodyScanner {
    var reader: JSONByteReader
    var result = RequestBodyScan()

    init(bytes: UnsafeRawBufferPointer) {
        reader = JSONByteReader(bytes: bytes)
    }

    mutating func scanDocument() throws(JSONParseError) -> RequestBodyScan {
        let first = try reader.startValue(depth: 0)
        if first == UInt8(ascii: "{") {
            try scanTopLevelObject()
        } else {
            _ = try reader.skipValue(startingWith: first, depth: 0)
        }
        reader.skipWhitespace()
        guard reader.index == reader.bytes.count else { throw reader.error("unexpected data after the value") }
        return result
    }

    private mutating func scanTopLevelObject() throws(JSONParseError) {
        result.isObject = true
        result.members.reserveCapacity(16)
        var messageBytes = 0
        var inputBytes = 0
        var maxCompletionTokens: Int??
        var maxTokens: Int?
        var more = try reader.beginObject()
        while more {
            try reader.expectKey()
            let keyStart = reader.index
            var decodedKey = DecodedStringBytes(bytes: reader.bytes)
            try reader.string(into: &decodedKey)
            let name = decodedKey.withBytes(RequestMemberName.init)
            try reader.expectColon()
            let first = try reader.startValue(depth: 1)
            let valueStart = reader.index
            let kind = kind(of: first)
            switch name {
            case .model:
                result.model = try kind == .string ? reader.decodedString() : nil
            case .user:
                result.user = try kind == .string ? reader.decodedString() : nil
            case .stream:
                result.stream = kind == .bool ? first == UInt8(ascii: "t") : nil
                result.streamHasInvalidType = kind != .bool && kind != .null
            case .streamOptions:
                result.streamOptions = try kind == .object ? streamOptions() : nil
            case .messages:
                (result.messages, messageBytes) = try kind == .array ? self.messages() : (nil, 0)
            case .input:
                result.hasInput = kind != .null
                inputBytes = try kind == .string ? reader.decodedUTF8Count() : 0
            case .maxTokens:
                maxTokens = try kind == .number ? clampedInteger() : nil
            case .maxCompletionTokens:
                maxCompletionTokens = .some(try kind == .number ? clampedInteger() : nil)
            default:
                break
            }
            // Whatever the cases above did not read is checked here.
            if reader.index == valueStart { _ = try reader.skipValue(startingWith: first, depth: 1) }
            result.members.append(.init(key: decodedKey.string, keyStart: keyStart, valueRange: valueStart..<reader.index, kind: kind))
            more = try reader.endMember()
        }
        result.objectEnd = reader.index - 1
        result.maxTokens = maxCompletionTokens ?? maxTokens
        result.promptBytes = messageBytes + inputBytes
    }

    /// The kind of the value that starts with `first`; a wrong guess from a bad first byte is thrown when the value
    /// is read.
    private func kind(of first: UInt8) -> JSONValueKind {
        switch first {
        case UInt8(ascii: "{"): .object
        case UInt8(ascii: "["): .array
        case UInt8(ascii: "\""): .string
        case UInt8(ascii: "t"), UInt8(ascii: "f"): .bool
        case UInt8(ascii: "n"): .null
        default: .number
        }
    }

    /// The number at the reader, as `JSONValue.intValue(clampedTo: 0...10_000_000)` gives it.
    private mutating func clampedInteger() throws(JSONParseError) -> Int? {
        let range = try reader.number()
        return JSONByteReader.double(reader.bytes, range).flatMap { JSONValue.number($0).intValue(clampedTo: 0...10_000_000) }
    }

    /// The `stream_options` object at the reader (depth 1).
    private mutating func streamOptions() throws(JSONParseError) -> RequestBodyScan.StreamOptions {
        let start = reader.index
        var options = RequestBodyScan.StreamOptions(range: start..<start, hasMembers: false, includeUsage: nil, includeUsageRanges: [])
        var more = try reader.beginObject()
        options.hasMembers = more
        while more {
            try reader.expectKey()
            let name = try reader.memberName()
            try reader.expectColon()
            let first = try reader.startValue(depth: 2)
            let valueStart = reader.index
            let kind = try reader.skipValue(startingWith: first, depth: 2)
            if name == .includeUsage {
                options.includeUsage = kind == .bool ? first == UInt8(ascii: "t") : nil
                options.includeUsageRanges.append(valueStart..<reader.index)
            }
            more = try reader.endMember()
        }
        options.range = start..<reader.index
        return options
    }

    /// The `messages` array at the reader (depth 1): its elements and the UTF-8 bytes of their text.
    private mutating func messages() throws(JSONParseError) -> (messages: [RequestBodyScan.Message], textBytes: Int) {
        var messages: [RequestBodyScan.Message] = []
        messages.reserveCapacity(16)
        var textBytes = 0
        var more = try reader.beginArray()
        while more {
            let first = try reader.startValue(depth: 2)
            let start = reader.index
            var role: String?
            if first == UInt8(ascii: "{") {
                let message = try message()
                role = message.role
                textBytes += message.textBytes
            } else {
                _ = try reader.skipValue(startingWith: first, depth: 2)
            }
            messages.append(.init(range: start..<reader.index, role: role))
            more = try reader.endElement()
        }
        return (messages, textBytes)
    }

    /// One message object at the reader (depth 2): its role and the UTF-8 bytes of its content's text.
    private mutating func message() throws(JSONParseError) -> (role: String?, textBytes: Int) {
        var role: String?
        var textBytes = 0
        var more = try reader.beginObject()
        while more {
            try reader.expectKey()
            let name = try reader.memberName()
            try reader.expectColon()
            let first = try reader.startValue(depth: 3)
            switch (name, first) {
            case (.role, UInt8(ascii: "\"")):
                role = try reader.decodedString()
            case (.content, UInt8(ascii: "\"")):
                textBytes = try reader.decodedUTF8Count()
            case (.content, UInt8(ascii: "[")):
                textBytes = try contentPartsText()
            default:
                if name == .role { role = nil }
                if name == .content { textBytes = 0 }
                _ = try reader.skipValue(startingWith: first, depth: 3)
            }
            more = try reader.endMember()
        }
        return (role, textBytes)
    }

    /// The UTF-8 bytes of the string `text` of each object in a content array at the reader (depth 3).
    private mutating func contentPartsText() throws(JSONParseError) -> Int {
        var textBytes = 0
        var more = try reader.beginArray()
        while more {
            let first = try reader.startValue(depth: 4)
            if first == UInt8(ascii: "{") {
                var partBytes = 0
                var moreMembers = try reader.beginObject()
                while moreMembers {
                    try reader.expectKey()
                    let name = try reader.memberName()
                    try reader.expectColon()
                    let first = try reader.startValue(depth: 5)
                    if name == .text && first == UInt8(ascii: "\"") {
                        partBytes = try reader.decodedUTF8Count()
                    } else {
                        if name == .text { partBytes = 0 }
                        _ = try reader.skipValue(startingWith: first, depth: 5)
                    }
                    moreMembers = try reader.endMember()
                }
                textBytes += partBytes
            } else {
                _ = try reader.skipValue(startingWith: first, depth: 4)
            }
            more = try reader.endElement()
        }
        return textBytes
    }
}
