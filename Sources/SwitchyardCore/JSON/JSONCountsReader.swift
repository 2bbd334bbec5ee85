import Foundation

/// Two numeric members of one object inside a larger document, read where they stand: for token
/// counts in an answer, without building the answer (or the object) as a tree.
package enum JSONCountsReader {
    package enum Found: Equatable {
        /// The value is `null`.
        case null
        /// The value is an object; each count is its member's number as `JSONValue.intValue()` reads
        /// it, `nil` when the member is absent or not a number. A repeated member counts as its last.
        case object(Int?, Int?)
    }

    /// The value that starts at `offset` (after optional white space), when it is `null` or a valid
    /// object; `nil` for anything else.
    package static func counts(
        in bytes: UnsafeRawBufferPointer, at offset: Int, named names: (StaticString, StaticString)
    ) -> Found? {
        counts(in: bytes, at: offset, named: names, noting: nil).found
    }

    /// `counts`, also saying where the value of the member `nested` starts (of the object itself, not
    /// of one nested in it; a repeated member counts as its last): for a nested detail (cached token
    /// counts in `prompt_tokens_details`), read with `counts` in turn. One pass over the object.
    package static func counts(
        in bytes: UnsafeRawBufferPointer, at offset: Int, named names: (StaticString, StaticString), noting nested: StaticString?
    ) -> (found: Found?, nestedOffset: Int?) {
        var reader = JSONByteReader(bytes: bytes)
        reader.index = offset
        do {
            switch try reader.startValue(depth: 0) {
            case UInt8(ascii: "n"):
                try reader.literal("null")
                return (.null, nil)
            case UInt8(ascii: "{"):
                var first: Int?
                var second: Int?
                var nestedOffset: Int?
                var more = try reader.beginObject()
                while more {
                    try reader.expectKey()
                    var name = DecodedStringBytes(bytes: bytes)
                    try reader.string(into: &name)
                    try reader.expectColon()
                    let member = name.withBytes { spelled in
                        spells(spelled, names.0) ? 0 : spells(spelled, names.1) ? 1 : nested.map { spells(spelled, $0) ? 2 : nil } ?? nil
                    }
                    let start = try reader.startValue(depth: 1)
                    if member == 2 { nestedOffset = reader.index }
                    let isNumber = start == UInt8(ascii: "-") || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(start)
                    if let member, member < 2, isNumber {
                        let range = try reader.number()
                        let count = count(in: bytes, range)
                        if member == 0 { first = count } else { second = count }
                    } else {
                        _ = try reader.skipValue(startingWith: start, depth: 1)
                        if member == 0 { first = nil } else if member == 1 { second = nil }
                    }
                    more = try reader.endMember()
                }
                return (.object(first, second), nestedOffset)
            default:
                return (nil, nil)
            }
        } catch {
            return (nil, nil)
        }
    }

    /// The number's value as `JSONValue.intValue()` gives it; digits only (the usual count) without a detour through `Double`.
    private static func count(in bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> Int? {
        var value = 0
        for index in range {
            let digit = bytes[index] &- UInt8(ascii: "0")
            guard digit < 10, value < 1 << 40 else {
                return JSONByteReader.double(bytes, range).flatMap { JSONValue.number($0).intValue() }
            }
            value = value * 10 + Int(digit)
        }
        return min(value, Int(Int32.max))
    }

    private static func spells(_ bytes: UnsafeRawBufferPointer, _ name: StaticString) -> Bool {
        bytes.count == name.utf8CodeUnitCount && (bytes.isEmpty || memcmp(bytes.baseAddress!, name.utf8Start, bytes.count) == 0)
    }
}
