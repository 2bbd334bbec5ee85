/// What a JSON value is, without its content.
package enum JSONValueKind: Sendable, Hashable {
    case null, bool, number, string, array, object
}

extension JSONValueKind {
    /// Whether the bytes are bracketed like one JSON object: `{` first and `}` last, white space
    /// aside. Not a validation (an answer is passed on as it came, and the HTTP layer already
    /// refuses a cut-off body): it tells an answer from an HTML page, plain text or an array by
    /// looking at its two ends, where walking the whole document cost about 4 % of a request.
    package static func isBracketedObject(_ bytes: UnsafeRawBufferPointer) -> Bool {
        func isWhitespace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 }
        guard let first = bytes.firstIndex(where: { !isWhitespace($0) }), let last = bytes.lastIndex(where: { !isWhitespace($0) }),
            first < last
        else { return false }
        return bytes[first] == UInt8(ascii: "{") && bytes[last] == UInt8(ascii: "}")
    }
}
