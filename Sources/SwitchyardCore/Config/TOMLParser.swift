/// A TOML 1.0 reader in pure Swift: the whole document into `TOMLNode` values, or the first error with
/// its line and column. It replaces TOMLKit, whose toml++ aborted the process on some malformed
/// input — and the gateway re-reads its seed inside the running process. Every input ends in a value
/// or an error: nesting is limited so hostile input cannot exhaust the stack, and no step looks back
/// over what it has read, so the work is bounded by the input's length.
///
/// Accepts what Python's `tomllib` accepts (checked by `Tests/tools/toml_differential.py`), except:
/// integers outside 64 bits are errors (TOML 1.0 allows this), a leading UTF-8 byte order mark is skipped,
/// U+0085, U+2028 and U+2029 are refused in comments too (they are refused everywhere outside strings),
/// and two keys Swift's `String` thinks equal (e.g. `é` precomposed or not) are one key.
struct TOMLParser {
    /// Arrays, inline tables and key parts nested deeper than this are an error.
    static let maximumDepth = 128

    let bytes: [UInt8]
    var index = 0

    init(_ text: String) {
        bytes = Array(text.utf8)
    }

    /// Parses a whole TOML document.
    static func parse(_ text: String) throws(ConfigurationError) -> [String: TOMLNode] {
        var parser = TOMLParser(text)
        return try parser.document()
    }

    // MARK: Document

    mutating func document() throws(ConfigurationError) -> [String: TOMLNode] {
        let root = TableBuilder()
        var section = (table: root, depth: 0)
        // Tables that dotted keys of the current section went through; once it ends they are defined.
        var dottedTables: [TableBuilder] = []
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { index = 3 }
        while true {
            skipSpaces()
            guard index < bytes.count else { break }
            switch bytes[index] {
            case UInt8(ascii: "\n"):
                index += 1
                continue
            case UInt8(ascii: "\r") where next(is: UInt8(ascii: "\n")):
                index += 2
                continue
            case UInt8(ascii: "["):
                for table in dottedTables { table.defined = true }
                dottedTables.removeAll()
                section = try header(root: root)
            case UInt8(ascii: "#"):
                break
            case let byte where Self.startsKey(byte):
                try keyValue(in: section.table, depth: section.depth, dottedTables: &dottedTables)
            default:
                throw unexpected("a key, a [table] header or a comment")
            }
            try endOfLine()
        }
        return root.node()
    }

    /// `[a.b]` or `[[a.b]]`: the table that the following key/value pairs go into, and its depth.
    mutating func header(root: TableBuilder) throws(ConfigurationError) -> (table: TableBuilder, depth: Int) {
        let isArray = next(is: UInt8(ascii: "["))
        index += isArray ? 2 : 1
        skipSpaces()
        let keyStart = index
        let key = try self.key()
        skipSpaces()
        for _ in 0..<(isArray ? 2 : 1) {
            guard index < bytes.count, bytes[index] == UInt8(ascii: "]") else {
                throw unexpected(isArray ? "']]' to close the [[array of tables]] header" : "']' to close the [table] header")
            }
            index += 1
        }
        guard key.count <= Self.maximumDepth else { throw error("nested too deeply", at: keyStart) }
        var table = root
        for (position, part) in key.dropLast().enumerated() {
            switch table.entries[part] {
            case nil:
                let created = TableBuilder()
                table.entries[part] = .table(created)
                table = created
            case .table(let existing): table = existing
            case .tables(let list): table = list.tables[list.tables.count - 1]
            case .value:
                throw error("\(Self.dotted(key[...position])) is already a value, it cannot hold a table", at: keyStart)
            }
        }
        let last = key[key.count - 1]
        let name = Self.dotted(key[...])
        switch (table.entries[last], isArray) {
        case (nil, false):
            let created = TableBuilder()
            created.defined = true
            table.entries[last] = .table(created)
            return (created, key.count)
        case (nil, true):
            let created = TableBuilder()
            table.entries[last] = .tables(TableList(created))
            return (created, key.count)
        case (.table(let existing), false):
            guard !existing.defined else { throw error("table [\(name)] is defined twice", at: keyStart) }
            existing.defined = true
            return (existing, key.count)
        case (.tables(let list), true):
            let created = TableBuilder()
            list.tables.append(created)
            return (created, key.count)
        case (.table, true):
            throw error("[[\(name)]] cannot make an array of tables: \(name) is already a table", at: keyStart)
        case (.tables, false):
            throw error("[\(name)] cannot define a table: \(name) is already an array of tables", at: keyStart)
        case (.value, _):
            throw error("\(name) is already a value, it cannot be defined as a table", at: keyStart)
        }
    }

    /// `key = value`, the key relative to the current section's table.
    mutating func keyValue(in section: TableBuilder, depth: Int, dottedTables: inout [TableBuilder]) throws(ConfigurationError) {
        let keyStart = index
        let key = try self.key()
        skipSpaces()
        guard index < bytes.count, bytes[index] == UInt8(ascii: "=") else { throw unexpected("'=' after the key") }
        index += 1
        skipSpaces()
        guard depth + key.count <= Self.maximumDepth else { throw error("nested too deeply", at: keyStart) }
        let value = try self.value(depth: depth + key.count)
        var table = section
        for (position, part) in key.dropLast().enumerated() {
            switch table.entries[part] {
            case nil:
                let created = TableBuilder()
                table.entries[part] = .table(created)
                table = created
            case .table(let existing):
                guard !existing.defined else {
                    throw error("table \(Self.dotted(key[...position])) is defined elsewhere; dotted keys cannot add to it", at: keyStart)
                }
                table = existing
            case .tables:
                throw error("\(Self.dotted(key[...position])) is an array of tables; dotted keys cannot add to it", at: keyStart)
            case .value:
                throw error("\(Self.dotted(key[...position])) is already a value, it cannot hold more keys", at: keyStart)
            }
            dottedTables.append(table)
        }
        let last = key[key.count - 1]
        guard table.entries[last] == nil else { throw error("key \(Self.dotted(key[...])) is defined twice", at: keyStart) }
        table.entries[last] = .value(value)
    }

    /// After a key/value pair or a header: spaces, an optional comment, then a newline or the end.
    mutating func endOfLine() throws(ConfigurationError) {
        skipSpaces()
        if index < bytes.count, bytes[index] == UInt8(ascii: "#") { try comment() }
        guard index < bytes.count else { return }
        if bytes[index] == UInt8(ascii: "\n") {
            index += 1
        } else if bytes[index] == UInt8(ascii: "\r"), next(is: UInt8(ascii: "\n")) {
            index += 2
        } else {
            throw unexpected("the end of the line")
        }
    }

    // MARK: Keys

    /// A bare, quoted or dotted key: its parts.
    mutating func key() throws(ConfigurationError) -> [String] {
        var parts: [String] = []
        while true {
            guard index < bytes.count else { throw unexpected("a key") }
            switch bytes[index] {
            case UInt8(ascii: "\""): parts.append(try basicString())
            case UInt8(ascii: "'"): parts.append(try literalString())
            case let byte where Self.isBare(byte):
                let start = index
                while index < bytes.count, Self.isBare(bytes[index]) { index += 1 }
                parts.append(String(decoding: bytes[start..<index], as: UTF8.self))
            default: throw unexpected("a key")
            }
            skipSpaces()
            guard index < bytes.count, bytes[index] == UInt8(ascii: ".") else { return parts }
            index += 1
            skipSpaces()
        }
    }

    static func isBare(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
            UInt8(ascii: "_"), UInt8(ascii: "-"):
            return true
        default: return false
        }
    }

    static func startsKey(_ byte: UInt8) -> Bool {
        isBare(byte) || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "'")
    }

    static func dotted(_ key: ArraySlice<String>) -> String {
        key.map { part in part.utf8.allSatisfy(isBare) && !part.isEmpty ? part : "\"\(part)\"" }.joined(separator: ".")
    }

    // MARK: Reading helpers

    func next(is byte: UInt8) -> Bool {
        index + 1 < bytes.count && bytes[index + 1] == byte
    }

    mutating func skipSpaces() {
        while index < bytes.count, bytes[index] == UInt8(ascii: " ") || bytes[index] == UInt8(ascii: "\t") { index += 1 }
    }

    /// A comment from `#` up to (not including) the end of its line.
    mutating func comment() throws(ConfigurationError) {
        index += 1
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\n") || (byte == UInt8(ascii: "\r") && next(is: UInt8(ascii: "\n"))) { return }
            if Self.isControl(byte) || unicodeLineBreakLength(at: index) > 0 { throw unexpected("comment text") }
            index += 1
        }
    }

    /// ASCII control characters, which TOML allows nowhere but tab (and newlines where lines may end).
    static func isControl(_ byte: UInt8) -> Bool {
        (byte < 0x20 && byte != UInt8(ascii: "\t")) || byte == 0x7F
    }

    /// The UTF-8 length of NEL (U+0085), LINE SEPARATOR (U+2028) or PARAGRAPH SEPARATOR (U+2029) at `offset`, or 0.
    func unicodeLineBreakLength(at offset: Int) -> Int {
        guard offset + 1 < bytes.count else { return 0 }
        if bytes[offset] == 0xC2, bytes[offset + 1] == 0x85 { return 2 }
        if offset + 2 < bytes.count, bytes[offset] == 0xE2, bytes[offset + 1] == 0x80, bytes[offset + 2] == 0xA8 || bytes[offset + 2] == 0xA9 {
            return 3
        }
        return 0
    }

    // MARK: Errors

    /// An error at `offset` (default: where the reader is), with its 1-based line and column in characters.
    func error(_ reason: String, at offset: Int? = nil) -> ConfigurationError {
        let end = min(offset ?? index, bytes.count)
        var (line, column) = (1, 1)
        for byte in bytes[..<end] {
            if byte == UInt8(ascii: "\n") {
                (line, column) = (line + 1, 1)
            } else if byte & 0xC0 != 0x80 {
                column += 1
            }
        }
        return ConfigurationError(key: "", reason: "TOML syntax: " + reason, line: line, column: column)
    }

    /// "expected …, found …", naming what is at the reader in a way a person can see.
    func unexpected(_ expected: String) -> ConfigurationError {
        guard index < bytes.count else { return error("expected \(expected), found the end of the file") }
        let byte = bytes[index]
        if byte == UInt8(ascii: "\n") || (byte == UInt8(ascii: "\r") && next(is: UInt8(ascii: "\n"))) {
            return error("expected \(expected), found the end of the line")
        }
        if byte == UInt8(ascii: "\r") {
            return error("a carriage return (CR) not followed by a line feed; TOML lines end with LF or CRLF")
        }
        if unicodeLineBreakLength(at: index) > 0 {
            let name = bytes[index] == 0xC2 ? "0085" : bytes[index + 2] == 0xA8 ? "2028" : "2029"
            return error(
                "U+\(name) (a Unicode line break, often pasted from a document or web page) is not allowed here; "
                    + "TOML lines end with LF or CRLF, and inside a string it is written \\u\(name)")
        }
        if Self.isControl(byte) {
            let code = String(byte, radix: 16, uppercase: true)
            return error("expected \(expected), found the control character U+\(code.count < 2 ? "000" : "00")\(code)")
        }
        return error("expected \(expected), found '\(character(at: index))'")
    }

    /// The character that starts at `offset`, for messages.
    func character(at offset: Int) -> Unicode.Scalar {
        String(decoding: bytes[offset..<min(bytes.count, offset + 4)], as: UTF8.self).unicodeScalars.first ?? "?"
    }
}

/// A table while the document is read: tables stay open for more keys, values (inline tables and
/// arrays included) are closed.
final class TableBuilder {
    enum Entry {
        case value(TOMLNode)
        case table(TableBuilder)
        case tables(TableList)
    }

    var entries: [String: Entry] = [:]
    /// Defined by a `[header]`, or by dotted keys of a section that has ended: no header may define it
    /// (again), nor dotted keys add to it.
    var defined = false

    func node() -> [String: TOMLNode] {
        entries.mapValues { entry in
            switch entry {
            case .value(let value): return value
            case .table(let table): return .table(table.node())
            case .tables(let list): return .array(list.tables.map { .table($0.node()) })
            }
        }
    }
}

/// An array of tables, a class so that `[[x]]` appends in place.
final class TableList {
    var tables: [TableBuilder]

    init(_ first: TableBuilder) {
        tables = [first]
    }
}
