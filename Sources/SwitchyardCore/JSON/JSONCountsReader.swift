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
        var reader = JSONByteReader(bytes: bytes)
        reader.index = offset
        do {
            switch try reader.startValue(depth: 0) {
            case UInt8(ascii: "n"):
                try reader.literal("null")
                return .null
            case UInt8(ascii: "{"):
                var first: Int?
                var second: Int?
                var more = try reader.beginObject()
                while more {
                    try reader.expectKey()
                    var name = DecodedStringBytes(bytes: bytes)
                    try reader.string(into: &name)
                    try reader.expectColon()
                    let member = name.withBytes { spelled in
                        spells(spelled, names.0) ? 0 : spells(spelled, names.1) ? 1 : nil
                    }
                    let start = try reader.startValue(depth: 1)
                    let isNumber = start == UInt8(ascii: "-") || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(start)
                    if let member, isNumber {
                        let range = try reader.number()
                        let count = count(in: bytes, range)
                        if member == 0 { first = count } else { second = count }
                    } else {
                        _ = try reader.skipValue(startingWith: start, depth: 1)
                        if member == 0 { first = nil } else if member == 1 { second = nil }
                    }
                    more = try reader.endMember()
                }
                return .object(first, second)
            default:
                return nil
            }
        } catch {
            return nil
        }
    }

    /// Where the value of `name` starts, when the valid object starting at `offset` has it as a member
    /// of its own (not of an object nested in it, not inside a string; a repeated member counts as its
    /// last); `nil` otherwise. For a nested detail (cached token counts in `prompt_tokens_details`),
    /// read with `counts` in turn.
    package static func memberValueOffset(in bytes: UnsafeRawBufferPointer, at offset: Int, named name: StaticString) -> Int? {
        var reader = JSONByteReader(bytes: bytes)
        reader.index = offset
        var found: Int?
        do {
            guard try reader.startValue(depth: 0) == UInt8(ascii: "{") else { return nil }
            var more = try reader.beginObject()
            while more {
                try reader.expectKey()
                var key = DecodedStringBytes(bytes: bytes)
                try reader.string(into: &key)
                try reader.expectColon()
                let start = try reader.startValue(depth: 1)
                if key.withBytes({ spells($0, name) }) { found = reader.index }
                _ = try reader.skipValue(startingWith: start, depth: 1)
                more = try reader.endMember()
            }
        } catch {
            return nil
        }
        return found
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
        bytes.count == name.utf8CodeUnitCount && bytes.elementsEqual(UnsafeRawBufferPointer(start: name.utf8Start, count: bytes.count))
    }
}
