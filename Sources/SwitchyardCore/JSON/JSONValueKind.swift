/// What a JSON value is, without its content.
package enum JSONValueKind: Sendable, Hashable {
    case null, bool, number, string, array, object
}

extension JSONValueKind {
    /// The kind of the one JSON document the bytes hold, checked without building it; `nil` when
    /// they are not exactly one JSON value (with white space around it).
    package static func ofDocument(_ bytes: UnsafeRawBufferPointer) -> JSONValueKind? {
        var reader = JSONByteReader(bytes: bytes)
        guard let kind = try? reader.skipValue(depth: 0) else { return nil }
        reader.skipWhitespace()
        return reader.index == bytes.count ? kind : nil
    }
}
