/// Values: strings, arrays and inline tables (numbers, booleans, dates and times: TOMLParser+Scalars).
extension TOMLParser {
    /// The value at the reader; `depth` counts the tables and arrays around it.
    mutating func value(depth: Int) throws(ConfigurationError) -> TOMLNode {
        guard depth < Self.maximumDepth else { throw error("nested too deeply (more than \(Self.maximumDepth) levels)") }
        guard index < bytes.count else { throw unexpected("a value") }
        switch bytes[index] {
        case UInt8(ascii: "\""):
            return .string(try starts(with: "\"\"\"") ? multilineBasicString() : basicString())
        case UInt8(ascii: "'"):
            return .string(try starts(with: "'''") ? multilineLiteralString() : literalString())
        case UInt8(ascii: "["): return try array(depth: depth + 1)
        case UInt8(ascii: "{"): return try inlineTable(depth: depth + 1)
        case UInt8(ascii: "0")...UInt8(ascii: "9") where isDateOrTime(): return try dateOrTime()
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "i"), UInt8(ascii: "n"),
            UInt8(ascii: "t"), UInt8(ascii: "f"):
            return try scalar()
        default: throw unexpected("a value")
        }
    }

    func starts(with text: StaticString) -> Bool {
        let count = text.utf8CodeUnitCount
        guard index + count <= bytes.count else { return false }
        return (0..<count).allSatisfy { bytes[index + $0] == text.utf8Start[$0] }
    }

    // MARK: Arrays and inline tables

    /// `[1, 2, 3]`, over several lines if need be, with comments and a trailing comma allowed.
    mutating func array(depth: Int) throws(ConfigurationError) -> TOMLNode {
        index += 1
        var items: [TOMLNode] = []
        while true {
            try skipArraySpace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
                index += 1
                return .array(items)
            }
            items.append(try value(depth: depth))
            try skipArraySpace()
            guard index < bytes.count else { throw unexpected("',' or ']' to close the array") }
            if bytes[index] == UInt8(ascii: "]") {
                index += 1
                return .array(items)
            }
            guard bytes[index] == UInt8(ascii: ",") else { throw unexpected("',' or ']' to close the array") }
            index += 1
        }
    }

    /// Spaces, newlines and comments between array items.
    mutating func skipArraySpace() throws(ConfigurationError) {
        while index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"): index += 1
            case UInt8(ascii: "\r") where next(is: UInt8(ascii: "\n")): index += 2
            case UInt8(ascii: "#"): try comment()
            default: return
            }
        }
    }

    /// `{ a = 1, b.c = 2 }` on one line, without a trailing comma; closed once read.
    mutating func inlineTable(depth: Int) throws(ConfigurationError) -> TOMLNode {
        index += 1
        let table = TableBuilder()
        skipSpaces()
        if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
            index += 1
            return .table([:])
        }
        while true {
            let keyStart = index
            if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
                throw error("an inline table cannot end with a comma")
            }
            let key = try self.key()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "=") else { throw unexpected("'=' after the key") }
            index += 1
            skipSpaces()
            guard depth + key.count <= Self.maximumDepth else { throw error("nested too deeply", at: keyStart) }
            let value = try self.value(depth: depth + key.count - 1)
            var inner = table
            for (position, part) in key.dropLast().enumerated() {
                switch inner.entries[part] {
                case nil:
                    let created = TableBuilder()
                    inner.entries[part] = .table(created)
                    inner = created
                case .table(let existing): inner = existing
                case .value, .tables:
                    throw error("\(Self.dotted(key[...position])) is already a value, it cannot hold more keys", at: keyStart)
                }
            }
            let last = key[key.count - 1]
            guard inner.entries[last] == nil else { throw error("key \(Self.dotted(key[...])) is defined twice", at: keyStart) }
            inner.entries[last] = .value(value)
            skipSpaces()
            guard index < bytes.count else { throw unexpected("',' or '}' to close the inline table") }
            if bytes[index] == UInt8(ascii: "}") {
                index += 1
                return .table(table.node())
            }
            guard bytes[index] == UInt8(ascii: ",") else {
                throw unexpected("',' or '}' to close the inline table (an inline table stays on one line)")
            }
            index += 1
            skipSpaces()
        }
    }

    // MARK: Strings

    /// `"…"` with escapes, on one line.
    mutating func basicString() throws(ConfigurationError) -> String {
        index += 1
        var text: [UInt8] = []
        while true {
            guard index < bytes.count else { throw unexpected("'\"' to close the string") }
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "\""):
                index += 1
                return String(decoding: text, as: UTF8.self)
            case UInt8(ascii: "\\"): try escape(into: &text, multiline: false)
            case UInt8(ascii: "\n"), UInt8(ascii: "\r"):
                throw unexpected("'\"' to close the string (a string with line breaks is written \"\"\"…\"\"\")")
            case let byte where Self.isControl(byte): throw unexpected("a string character (write control characters as \\uXXXX)")
            default:
                text.append(byte)
                index += 1
            }
        }
    }

    /// `"""…"""` with escapes and line breaks; a newline right after the opening quotes is dropped.
    mutating func multilineBasicString() throws(ConfigurationError) -> String {
        index += 3
        skipNewline()
        var text: [UInt8] = []
        while true {
            guard index < bytes.count else { throw unexpected("'\"\"\"' to close the string") }
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "\"") where starts(with: "\"\"\""):
                return closeMultiline(text, quote: byte)
            case UInt8(ascii: "\\"): try escape(into: &text, multiline: true)
            case UInt8(ascii: "\n"):
                text.append(byte)
                index += 1
            case UInt8(ascii: "\r") where next(is: UInt8(ascii: "\n")):
                text.append(UInt8(ascii: "\n"))
                index += 2
            case let byte where Self.isControl(byte): throw unexpected("a string character (write control characters as \\uXXXX)")
            default:
                text.append(byte)
                index += 1
            }
        }
    }

    /// `'…'`: no escapes, one line.
    mutating func literalString() throws(ConfigurationError) -> String {
        index += 1
        let start = index
        while true {
            guard index < bytes.count else { throw unexpected("\"'\" to close the string") }
            let byte = bytes[index]
            if byte == UInt8(ascii: "'") {
                index += 1
                return String(decoding: bytes[start..<index - 1], as: UTF8.self)
            }
            if byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r") {
                throw unexpected("\"'\" to close the string (a string with line breaks is written '''…''')")
            }
            if Self.isControl(byte) { throw unexpected("a string character") }
            index += 1
        }
    }

    /// `'''…'''`: no escapes; a newline right after the opening quotes is dropped.
    mutating func multilineLiteralString() throws(ConfigurationError) -> String {
        index += 3
        skipNewline()
        var text: [UInt8] = []
        while true {
            guard index < bytes.count else { throw unexpected("\"'''\" to close the string") }
            let byte = bytes[index]
            if byte == UInt8(ascii: "'"), starts(with: "'''") { return closeMultiline(text, quote: byte) }
            if byte == UInt8(ascii: "\r"), next(is: UInt8(ascii: "\n")) {
                text.append(UInt8(ascii: "\n"))
                index += 2
                continue
            }
            if Self.isControl(byte), byte != UInt8(ascii: "\n") { throw unexpected("a string character") }
            text.append(byte)
            index += 1
        }
    }

    /// At the closing three quotes: up to two more quotes right after them belong to the string.
    mutating func closeMultiline(_ text: [UInt8], quote: UInt8) -> String {
        var text = text
        index += 3
        for _ in 0..<2 where index < bytes.count && bytes[index] == quote {
            text.append(quote)
            index += 1
        }
        return String(decoding: text, as: UTF8.self)
    }

    mutating func skipNewline() {
        if index < bytes.count, bytes[index] == UInt8(ascii: "\n") {
            index += 1
        } else if index < bytes.count, bytes[index] == UInt8(ascii: "\r"), next(is: UInt8(ascii: "\n")) {
            index += 2
        }
    }

    /// A backslash escape in a basic string; in a multi-line one, a backslash ending a line drops the
    /// line break and the white space after it.
    mutating func escape(into text: inout [UInt8], multiline: Bool) throws(ConfigurationError) {
        let start = index
        index += 1
        guard index < bytes.count else { throw unexpected("an escape character after '\\'") }
        let simple: UInt8? =
            switch bytes[index] {
            case UInt8(ascii: "b"): 0x08
            case UInt8(ascii: "t"): 0x09
            case UInt8(ascii: "n"): 0x0A
            case UInt8(ascii: "f"): 0x0C
            case UInt8(ascii: "r"): 0x0D
            case UInt8(ascii: "\""): UInt8(ascii: "\"")
            case UInt8(ascii: "\\"): UInt8(ascii: "\\")
            default: nil
            }
        if let simple {
            text.append(simple)
            index += 1
            return
        }
        switch bytes[index] {
        case UInt8(ascii: "u"), UInt8(ascii: "U"):
            let length = bytes[index] == UInt8(ascii: "u") ? 4 : 8
            index += 1
            var value: UInt32 = 0
            for _ in 0..<length {
                guard index < bytes.count, let digit = Hex.value(of: bytes[index]) else {
                    throw unexpected("\(length) hexadecimal digits after \\\(length == 4 ? "u" : "U")")
                }
                value = value << 4 | UInt32(digit)
                index += 1
            }
            guard let scalar = Unicode.Scalar(value) else {
                throw error("\\\(length == 4 ? "u" : "U")\(String(value, radix: 16, uppercase: true)) is not a Unicode scalar value", at: start)
            }
            UTF8.encode(scalar) { text.append($0) }
        case let byte
        where multiline && (byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r")):
            skipSpaces()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\n") || (bytes[index] == UInt8(ascii: "\r") && next(is: UInt8(ascii: "\n")))
            else {
                throw error("a backslash followed by white space must end the line", at: start)
            }
            while index < bytes.count {
                switch bytes[index] {
                case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"): index += 1
                case UInt8(ascii: "\r") where next(is: UInt8(ascii: "\n")): index += 2
                default: return
                }
            }
        case let byte where byte < 0x20 || byte == 0x7F:
            throw error("a backslash must start an escape such as \\n (a line-ending backslash works only in \"\"\" strings)", at: start)
        default:
            throw error("invalid escape '\\\(character(at: index))'; a backslash is written \\\\", at: start)
        }
    }
}
