/// A validating cursor over JSON bytes that builds no values: the grammar of `JSONValue.parse`, piece by piece, for
/// scanners that look at a few members and only check the rest.
///
/// Every method accepts and rejects exactly what `JSONValue.parse` does, with the same error at the same offset, so a
/// scan of a body fails iff parsing it would, and the client gets the same message either way.
struct JSONByteReader {
    let bytes: UnsafeRawBufferPointer
    var index = 0

    init(bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    func error(_ reason: String) -> JSONParseError {
        JSONParseError(offset: index, reason: reason)
    }

    mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x0A, 0x0D, 0x09: index += 1
            default: return
            }
        }
    }

    // MARK: Values

    /// Skips white space before a value at `depth` and returns the value's first byte, leaving `index` on it.
    mutating func startValue(depth: Int) throws(JSONParseError) -> UInt8 {
        guard depth < JSONValue.maximumDepth else { throw error("nested too deeply") }
        skipWhitespace()
        guard index < bytes.count else { throw error("unexpected end") }
        return bytes[index]
    }

    /// Checks the value at `depth` that starts at `index` with `first` (from `startValue`) and moves past it.
    mutating func skipValue(startingWith first: UInt8, depth: Int) throws(JSONParseError) -> JSONValueKind {
        switch first {
        case UInt8(ascii: "{"):
            var more = try beginObject()
            while more {
                try expectKey()
                var ignored = IgnoredStringBytes()
                try string(into: &ignored)
                try expectColon()
                _ = try skipValue(depth: depth + 1)
                more = try endMember()
            }
            return .object
        case UInt8(ascii: "["):
            var more = try beginArray()
            while more {
                _ = try skipValue(depth: depth + 1)
                more = try endElement()
            }
            return .array
        case UInt8(ascii: "\""):
            var ignored = IgnoredStringBytes()
            try string(into: &ignored)
            return .string
        case UInt8(ascii: "t"):
            try literal("true")
            return .bool
        case UInt8(ascii: "f"):
            try literal("false")
            return .bool
        case UInt8(ascii: "n"):
            try literal("null")
            return .null
        default:
            _ = try number()
            return .number
        }
    }

    /// Checks the value at `depth` after optional white space and moves past it.
    mutating func skipValue(depth: Int) throws(JSONParseError) -> JSONValueKind {
        let first = try startValue(depth: depth)
        return try skipValue(startingWith: first, depth: depth)
    }

    mutating func literal(_ word: StaticString) throws(JSONParseError) {
        let count = word.utf8CodeUnitCount
        guard index + count <= bytes.count else { throw error("unexpected end") }
        for offset in 0..<count where bytes[index + offset] != word.utf8Start[offset] {
            throw error("unknown literal")
        }
        index += count
    }

    // MARK: Objects and arrays

    /// Moves past the `{` at `index`; `false` when the object is empty (and then past its `}` too).
    mutating func beginObject() throws(JSONParseError) -> Bool {
        index += 1
        skipWhitespace()
        guard index < bytes.count, bytes[index] == UInt8(ascii: "}") else { return true }
        index += 1
        return false
    }

    /// Skips white space up to a member's key and checks that one starts there.
    mutating func expectKey() throws(JSONParseError) {
        skipWhitespace()
        guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw error("expected a key") }
    }

    /// Moves past the `:` after a key.
    mutating func expectColon() throws(JSONParseError) {
        skipWhitespace()
        guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw error("expected ':'") }
        index += 1
    }

    /// Moves past the `,` or `}` after a member's value; `true` when another member follows.
    mutating func endMember() throws(JSONParseError) -> Bool {
        try endItem(closing: UInt8(ascii: "}"), expected: "expected ',' or '}'")
    }

    /// Moves past the `[` at `index`; `false` when the array is empty (and then past its `]` too).
    mutating func beginArray() throws(JSONParseError) -> Bool {
        index += 1
        skipWhitespace()
        guard index < bytes.count, bytes[index] == UInt8(ascii: "]") else { return true }
        index += 1
        return false
    }

    /// Moves past the `,` or `]` after an element; `true` when another element follows.
    mutating func endElement() throws(JSONParseError) -> Bool {
        try endItem(closing: UInt8(ascii: "]"), expected: "expected ',' or ']'")
    }

    private mutating func endItem(closing: UInt8, expected: String) throws(JSONParseError) -> Bool {
        skipWhitespace()
        guard index < bytes.count else { throw error("unexpected end") }
        if bytes[index] == UInt8(ascii: ",") {
            index += 1
            return true
        }
        guard bytes[index] == closing else { throw error(expected) }
        index += 1
        return false
    }

    // MARK: Strings

    /// Reads the string whose `"` is at `index`, handing its decoded content to `sink` in pieces.
    mutating func string<Sink: JSONStringSink>(into sink: inout Sink) throws(JSONParseError) {
        index += 1
        var runStart = index
        while index < bytes.count {
            // Text is most of a body: pass eight ordinary bytes at a time.
            while index + 8 <= bytes.count,
                !Self.holdsStringSpecial(bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self), nonASCII: Sink.takesNonASCIIBytesOneByOne)
            {
                index += 8
            }
            guard index < bytes.count else { break }
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                sink.append(run: runStart..<index, of: bytes)
                index += 1
                return
            } else if byte == UInt8(ascii: "\\") {
                sink.append(run: runStart..<index, of: bytes)
                index += 1
                sink.append(escaped: try escapedScalar())
                runStart = index
            } else if byte < 0x20 {
                throw error("control character in string")
            } else if Sink.takesNonASCIIBytesOneByOne && byte >= 0x80 {
                sink.append(run: runStart..<index, of: bytes)
                sink.append(nonASCII: byte)
                index += 1
                runStart = index
            } else {
                index += 1
            }
        }
        throw error("unterminated string")
    }

    /// Whether any of eight bytes is one a string's byte loop must look at: `"`, `\`, a control character, or (when
    /// `nonASCII`) a byte from 0x80 up. Each test is exact for the word as a whole, which is all that is asked.
    @inline(__always)
    private static func holdsStringSpecial(_ word: UInt64, nonASCII: Bool) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highBits: UInt64 = 0x8080_8080_8080_8080
        func holdsZeroByte(_ value: UInt64) -> Bool { (value &- ones) & ~value & highBits != 0 }
        let control = (word &- ones &* 0x20) & ~word & highBits != 0
        let quote = holdsZeroByte(word ^ (ones &* UInt64(UInt8(ascii: "\""))))
        let backslash = holdsZeroByte(word ^ (ones &* UInt64(UInt8(ascii: "\\"))))
        return control || quote || backslash || (nonASCII && word & highBits != 0)
    }

    /// The string whose `"` is at `index`, decoded as `JSONValue.parse` decodes it.
    mutating func decodedString() throws(JSONParseError) -> String {
        var decoded = DecodedStringBytes(bytes: bytes)
        try string(into: &decoded)
        return decoded.string
    }

    /// The UTF-8 length of the string whose `"` is at `index` once decoded (`String.utf8.count` of what
    /// `JSONValue.parse` gives), without building it.
    mutating func decodedUTF8Count() throws(JSONParseError) -> Int {
        var counter = DecodedUTF8Counter()
        try string(into: &counter)
        return counter.finish()
    }

    /// The member name that the key whose `"` is at `index` spells, once decoded.
    mutating func memberName() throws(JSONParseError) -> RequestMemberName {
        var decoded = DecodedStringBytes(bytes: bytes)
        try string(into: &decoded)
        return decoded.withBytes(RequestMemberName.init)
    }

    /// The code point after a `\` (already passed), as `JSONValue.parse` reads it: surrogate pairs joined, lone
    /// surrogates refused.
    private mutating func escapedScalar() throws(JSONParseError) -> Unicode.Scalar {
        guard index < bytes.count else { throw error("unexpected end") }
        let escaped = bytes[index]
        index += 1
        switch escaped {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): return Unicode.Scalar(escaped)
        case UInt8(ascii: "b"): return Unicode.Scalar(0x08)
        case UInt8(ascii: "f"): return Unicode.Scalar(0x0C)
        case UInt8(ascii: "n"): return Unicode.Scalar(0x0A)
        case UInt8(ascii: "r"): return Unicode.Scalar(0x0D)
        case UInt8(ascii: "t"): return Unicode.Scalar(0x09)
        case UInt8(ascii: "u"):
            var code = try hex4()
            if (0xD800..<0xDC00).contains(code) {
                guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") else {
                    throw error("lone surrogate")
                }
                index += 2
                let low = try hex4()
                guard (0xDC00..<0xE000).contains(low) else { throw error("invalid surrogate pair") }
                code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
            } else if (0xDC00..<0xE000).contains(code) {
                throw error("lone surrogate")
            }
            guard let scalar = Unicode.Scalar(code) else { throw error("invalid escape") }
            return scalar
        default:
            throw error("invalid escape")
        }
    }

    private mutating func hex4() throws(JSONParseError) -> UInt32 {
        guard index + 4 <= bytes.count else { throw error("unexpected end") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            let digit: UInt32
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
            default: throw error("invalid hex digit")
            }
            value = value * 16 + digit
            index += 1
        }
        return value
    }

    // MARK: Numbers

    /// Checks the number at `index` and returns its bytes' range.
    ///
    /// A number is refused, as by `JSONValue.parse`, when it is too large for a `Double`. Only a number that could be
    /// (its decimal exponent above 308) is converted to find out; the rest are known finite from their digits.
    mutating func number() throws(JSONParseError) -> Range<Int> {
        let start = index
        if index < bytes.count, bytes[index] == UInt8(ascii: "-") { index += 1 }
        let integerStart = index
        skipDigits()
        let integerDigits = index - integerStart
        guard integerDigits > 0 else { throw error("invalid value") }
        if integerDigits > 1 && bytes[integerStart] == UInt8(ascii: "0") { throw error("leading zero") }
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            let fractionStart = index
            skipDigits()
            guard index > fractionStart else { throw error("invalid number") }
        }
        var exponent = 0
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            index += 1
            var sign = 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
                if bytes[index] == UInt8(ascii: "-") { sign = -1 }
                index += 1
            }
            let exponentStart = index
            while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) {
                // Saturates: anything past a few hundred decides the same way.
                if exponent < 100_000 { exponent = exponent * 10 + Int(bytes[index] - UInt8(ascii: "0")) }
                index += 1
            }
            guard index > exponentStart else { throw error("invalid number") }
            exponent *= sign
        }
        // The value is below 10^(digits before the point + exponent), and Double reaches past 10^308.
        let magnitude = (bytes[integerStart] == UInt8(ascii: "0") ? 0 : integerDigits) + exponent
        if magnitude > 308 {
            guard let value = Self.double(bytes, start..<index), value.isFinite else { throw error("number out of range") }
        }
        return start..<index
    }

    private mutating func skipDigits() {
        while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) { index += 1 }
    }

    /// The value of number text, converted as `JSONValue.parse` converts it.
    static func double(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> Double? {
        Double(String(decoding: UnsafeRawBufferPointer(rebasing: bytes[range]), as: UTF8.self))
    }
}
