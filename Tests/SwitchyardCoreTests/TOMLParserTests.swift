import Testing

@testable import SwitchyardCore

/// The TOML 1.0 reader: every feature, every kind of error with its line and column, and inputs that
/// made toml++ abort the process. `Tests/tools/toml_differential.py` compares it with Python's tomllib.
@Suite struct TOMLParserTests {
    func parse(_ text: String) throws(ConfigurationError) -> [String: TOMLNode] {
        try TOMLNode.parse(text)
    }

    func value(_ text: String) throws -> TOMLNode {
        try #require(try parse("v = " + text)["v"])
    }

    func failure(_ text: String) -> ConfigurationError? {
        do {
            _ = try parse(text)
            return nil
        } catch {
            return error
        }
    }

    // MARK: Values

    @Test(arguments: [
        ("42", TOMLNode.integer(42)), ("+17", .integer(17)), ("-17", .integer(-17)), ("0", .integer(0)), ("-0", .integer(0)),
        ("1_000_000", .integer(1_000_000)), ("0xDEAD_beef", .integer(0xDEAD_BEEF)), ("0o755", .integer(0o755)), ("0b1101", .integer(13)),
        ("9223372036854775807", .integer(Int.max)), ("-9223372036854775808", .integer(Int.min)),
        ("1.5", .double(1.5)), ("-0.25", .double(-0.25)), ("5e+22", .double(5e22)), ("1E-2", .double(0.01)), ("6.626e-34", .double(6.626e-34)),
        ("1_000.5_5", .double(1000.55)), ("0e0", .double(0)), ("inf", .double(.infinity)), ("+inf", .double(.infinity)),
        ("-inf", .double(-.infinity)), ("1e400", .double(.infinity)),
        ("true", .bool(true)), ("false", .bool(false)),
        ("1979-05-27T07:32:00Z", .other("1979-05-27T07:32:00Z")), ("1979-05-27 07:32:00.999-07:00", .other("1979-05-27 07:32:00.999-07:00")),
        ("1979-05-27t07:32:00", .other("1979-05-27t07:32:00")), ("1979-05-27", .other("1979-05-27")), ("07:32:00.5", .other("07:32:00.5")),
        ("2000-02-29", .other("2000-02-29")),
    ])
    func scalarsAreReadAsTheirType(source: String, expected: TOMLNode) throws {
        #expect(try value(source) == expected)
    }

    @Test(arguments: ["nan", "+nan", "-nan"])
    func notANumberIsADouble(source: String) throws {
        guard case .double(let number) = try value(source) else {
            Issue.record("not a double")
            return
        }
        #expect(number.isNaN)
    }

    @Test(arguments: [
        (#""plain""#, "plain"), (#""tab\there""#, "tab\there"), (#""\b\t\n\f\r\"\\""#, "\u{8}\t\n\u{C}\r\"\\"),
        (#""\u00E9 \U0001F600""#, "é 😀"), (#""é and ü""#, "é and ü"), ("\"a\ttab\"", "a\ttab"), ("'C:\\path\\'", "C:\\path\\"),
        ("'say \"hi\"'", "say \"hi\""), ("\"\"\"\nline 1\nline 2\"\"\"", "line 1\nline 2"), ("\"\"\"\r\nwindows\r\n\"\"\"", "windows\n"),
        ("\"\"\"one \\n two\"\"\"", "one \n two"), ("\"\"\"trim \\\n    \n   me\"\"\"", "trim me"),
        ("\"\"\"spaces \\   \r\n  x\"\"\"", "spaces x"), (#""""\n""""#, "\n"),
        (#"""""quoted""""""#, "\"quoted\"\""), (#""""""""#, ""), ("'''\nraw \\n\n'''", "raw \\n\n"), ("''''a'''''", "'a''"), ("\"\"", ""),
        (#""\u2028 ok in a string""#, "\u{2028} ok in a string"), ("\"\u{2028}\u{85}\"", "\u{2028}\u{85}"),
    ])
    func stringsDecodeEscapesAndLineBreaks(source: String, expected: String) throws {
        #expect(try value(source) == .string(expected))
    }

    @Test func arraysMayMixTypesSpanLinesAndEndWithAComma() throws {
        let array = try value("[\n  1, # one\n  'two',\r\n  [3.0, { four = 4 }],\n  # nothing\n]")
        #expect(array == .array([.integer(1), .string("two"), .array([.double(3), .table(["four": .integer(4)])])]))
        #expect(try value("[]") == .array([]))
        #expect(try value("[ 1 , 2 , ]") == .array([.integer(1), .integer(2)]))
    }

    @Test func inlineTablesTakeDottedKeys() throws {
        let table = try value(#"{ name = "x", point.x = 1, point.y = 2, "quoted key" = {}, 'lit' = [] }"#)
        #expect(
            table
                == .table([
                    "name": .string("x"), "point": .table(["x": .integer(1), "y": .integer(2)]), "quoted key": .table([:]), "lit": .array([]),
                ]))
    }

    // MARK: Keys and tables

    @Test func keysMayBeBareQuotedOrDotted() throws {
        let document = try parse(
            """
            bare_key-1 = 1
            1234 = 2
            "quoted.key" = 3
            '' = 4
            site . "google.com" . 'x' = 5
            3.14 = 6
            """)
        #expect(document["bare_key-1"] == .integer(1))
        #expect(document["1234"] == .integer(2))
        #expect(document["quoted.key"] == .integer(3))
        #expect(document[""] == .integer(4))
        #expect(document["site"] == .table(["google.com": .table(["x": .integer(5)])]))
        #expect(document["3"] == .table(["14": .integer(6)]))
    }

    @Test func headersAndArraysOfTablesBuildTheTree() throws {
        let document = try parse(
            """
            # comment
            top = true

            [a.b.c]
            d = 1
            [a]          # defined after its sub-table: allowed once
            e = 2
            [ a . f ]
            [[fruits]]
            name = "apple"
            [fruits.physical]
            color = "red"
            [[fruits.varieties]]
            name = "red delicious"
            [[fruits]]
            name = "banana"
            [fruit]
            apple.color = "red"
            [fruit.apple.texture]
            smooth = true
            """)
        #expect(document["top"] == .bool(true))
        #expect(document["a"] == .table(["b": .table(["c": .table(["d": .integer(1)])]), "e": .integer(2), "f": .table([:])]))
        #expect(
            document["fruits"]
                == .array([
                    .table([
                        "name": .string("apple"), "physical": .table(["color": .string("red")]),
                        "varieties": .array([.table(["name": .string("red delicious")])]),
                    ]),
                    .table(["name": .string("banana")]),
                ]))
        #expect(document["fruit"] == .table(["apple": .table(["color": .string("red"), "texture": .table(["smooth": .bool(true)])])]))
    }

    @Test func crlfAndAMissingFinalNewlineAreFine() throws {
        #expect(try parse("a = 1\r\n[t]\r\nb = 'x' # c\r\n") == ["a": .integer(1), "t": .table(["b": .string("x")])])
        #expect(try parse("") == [:])
        #expect(try parse("\u{FEFF}a = 1") == ["a": .integer(1)])
    }

    // MARK: Errors

    @Test(arguments: [
        // Redefinitions.
        ("a = 1\na = 2", 2, 1, "defined twice"),
        ("[t]\n[t]", 2, 2, "defined twice"),
        ("[a]\nb.c = 1\n[a.b]", 3, 2, "defined twice"),
        ("a.b = 1\n[a]", 2, 2, "defined twice"),
        ("[a.b]\n[a]\nb.c = 1", 3, 1, "defined elsewhere"),
        ("[a]\n[[a]]", 2, 3, "already a table"),
        ("[[a]]\n[a]", 2, 2, "array of tables"),
        ("a = []\n[[a]]", 2, 3, "already a value"),
        ("a = { b = 1 }\na.c = 2", 2, 1, "already a value"),
        ("a = { b = 1 }\n[a]", 2, 2, "already a value"),
        ("a = 1\n[a.b]", 2, 2, "already a value"),
        ("[[x.arr]]\n[x]\narr.k = 1", 3, 1, "array of tables"),
        ("t = { a = 1, a = 2 }", 1, 14, "defined twice"),
        ("t = { a = { b = 1 }, a.c = 2 }", 1, 22, "already a value"),
        // Structure.
        ("[[[x]]models.chat.versions.v1]", 1, 3, "expected a key"),
        ("a = 1 b = 2", 1, 7, "end of the line"),
        ("a", 1, 2, "'='"),
        ("a =", 1, 4, "expected a value, found the end of the file"),
        ("a = \n", 1, 5, "found the end of the line"),
        ("= 1", 1, 1, "expected a key"),
        ("[a", 1, 3, "']'"),
        ("[[a]", 1, 5, "']]'"),
        ("a = [1 2]", 1, 8, "',' or ']'"),
        ("a = [1,,]", 1, 8, "expected a value"),
        ("a = [1", 1, 7, "',' or ']'"),
        ("t = { a = 1, }", 1, 14, "cannot end with a comma"),
        ("t = { a = 1\n}", 1, 12, "one line"),
        ("a.b. = 1", 1, 6, "expected a key"),
        // Line breaks and control characters.
        ("a = 1\rb = 2", 1, 6, "carriage return"),
        ("a = [\u{2028}]", 1, 6, "Unicode line break"),
        ("a = [ 1,\u{85} 2 ]", 1, 9, "U+0085"),
        ("x = 1\n# \u{2029}", 2, 3, "U+2029"),
        ("# \u{7}", 1, 3, "control character U+0007"),
        ("a = \"x\u{0}\"", 1, 7, "control character U+0000"),
        ("a = '''\u{1B}'''", 1, 8, "control character U+001B"),
        // Strings.
        ("a = \"open", 1, 10, "'\"' to close the string"),
        ("a = \"two\nlines\"", 1, 9, "\"\"\""),
        ("a = 'open\n'", 1, 10, "'''"),
        ("a = \"\"\"never closed", 1, 20, "'\"\"\"'"),
        ("a = \"\\x41\"", 1, 6, "invalid escape '\\x'"),
        ("a = \"\\uD800\"", 1, 6, "not a Unicode scalar value"),
        ("a = \"\\U00110000\"", 1, 6, "not a Unicode scalar value"),
        ("a = \"\\u12\"", 1, 10, "4 hexadecimal digits"),
        ("a = \"x\\\ny\"", 1, 7, "line-ending backslash"),
        ("a = \"\"\"x\\ y\"\"\"", 1, 9, "must end the line"),
        // Numbers.
        ("a = 01", 1, 5, "leading zeros"),
        ("a = 1__0", 1, 5, "underscores"),
        ("a = 1_", 1, 5, "underscores"),
        ("a = 0x_1", 1, 5, "not a valid number"),
        ("a = 1.", 1, 5, "decimal point"),
        ("a = .5", 1, 5, "expected a value"),
        ("a = 1e", 1, 5, "exponent"),
        ("a = -0x1", 1, 5, "not a valid number"),
        ("a = 9223372036854775808", 1, 5, "64-bit"),
        ("a = 0xFFFFFFFFFFFFFFFF", 1, 5, "64-bit"),
        ("a = tru", 1, 5, "not a valid value"),
        ("a = True", 1, 5, "expected a value"),
        // Dates and times.
        ("a = 1979-02-29", 1, 13, "day 29"),
        ("a = 1979-13-01", 1, 10, "month 13"),
        ("a = 07:32", 1, 10, "seconds are required"),
        ("a = 24:00:00", 1, 5, "hour 24"),
        ("a = 1979-05-27T07:32:00+24:00", 1, 25, "offset hour 24"),
        ("a = 07:32:00Z", 1, 13, "end of the line"),
        ("a = 0000-01-01", 1, 5, "year 0000"),
    ])
    func errorsSayWhatAndWhere(source: String, line: Int, column: Int, reason: String) throws {
        let error = try #require(failure(source), "accepted \(source.debugDescription)")
        #expect(error.key == "")
        #expect(error.reason.hasPrefix("TOML syntax: "))
        #expect(error.reason.contains(reason), "\(error.reason)")
        #expect(error.line == line && error.column == column, "\(source.debugDescription): \(error)")
    }

    @Test func columnsCountCharactersNotBytes() throws {
        let error = try #require(failure("\"é\" = 'ü' ü"))
        #expect(error.line == 1 && error.column == 11)
    }

    @Test func nestingIsLimitedInsteadOfExhaustingTheStack() throws {
        for opening in ["[", "{a=", "{a.b="] {
            let deep = "a = " + String(repeating: opening, count: 100_000)
            #expect(failure(deep)?.reason.contains("nested too deeply") == true, "\(opening)")
        }
        let dotted = (0..<10_000).map { _ in "k" }.joined(separator: ".")
        #expect(failure(dotted + " = 1")?.reason.contains("nested too deeply") == true)
        #expect(failure("[" + dotted + "]")?.reason.contains("nested too deeply") == true)
        let fine = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        #expect(failure("a = " + fine) == nil)
    }

    // MARK: Properties

    /// Mutations of a document that uses every feature: each is read or refused with a place — never a crash —
    /// and reading is deterministic.
    @Test func mutatedDocumentsAreReadOrRefusedWithAPlace() {
        let document = Array(
            """
            # every feature
            title = "T\\u00e9st \\"q\\"" # c
            [owner]
            dob = 1979-05-27T07:32:00-08:00
            times = [07:32:00, 1979-05-27, 1979-05-27 07:32:00.5Z]
            [database]
            ports = [ 8000, 0x1F, 0o7, 0b1, +1_000, -0 ]
            data = [ ["gamma", 'delta'], [1.0e3, -inf, nan], ]
            temp_targets = { cpu = 79.5, case.x = 72.0 }
            text = \"\"\"
            line \\
              trimmed\"\"\"
            raw = '''
            C:\\raw'''
            [[products]]
            name = "Hammer"
            a.b."c" = true
            [[products]]
            [products.sub]

            """.utf8)
        let fragments = [
            "[", "]", "[[", "]]", "{", "}", "=", ",", ".", "\"", "'", "\"\"\"", "'''", "\\", "\\u", "#", "\n", "\r", "\r\n", "\t", " ", "0", "_", "e",
            "-", ":", "\u{0}", "\u{85}", "\u{2028}", "é", "nan", "1979-",
        ]
        var random = SplitMix64(seed: 0x70_4D4C)
        var (read, refused) = (0, 0)
        for _ in 0..<5_000 {
            var text = document
            for _ in 0..<(1 + Int(random.next() % 4)) {
                let at = Int(random.next() % UInt64(text.count + 1))
                switch random.next() % 3 {
                case 0: text.insert(contentsOf: Array(fragments[Int(random.next() % UInt64(fragments.count))].utf8), at: at)
                case 1: text.removeSubrange(at..<min(text.count, at + 1 + Int(random.next() % 8)))
                default: if at < text.count { text[at] = UInt8(truncatingIfNeeded: random.next()) }
                }
            }
            let source = String(decoding: text, as: UTF8.self)
            do {
                let first = try parse(source)
                #expect(Self.canonical(.table(try parse(source))) == Self.canonical(.table(first)))
                read += 1
            } catch {
                refused += 1
                #expect(error.line != nil && error.column != nil && error.reason.hasPrefix("TOML syntax: "))
            }
        }
        #expect(read > 250 && refused > 2_500, "read \(read), refused \(refused)")
    }

    /// A text that is equal for equal trees (keys sorted, `nan` equal to itself).
    static func canonical(_ node: TOMLNode) -> String {
        switch node {
        case .table(let table):
            return "{" + table.keys.sorted().map { "\($0.debugDescription)=\(canonical(table[$0]!))" }.joined(separator: ",") + "}"
        case .array(let items): return "[" + items.map(canonical).joined(separator: ",") + "]"
        default: return "\(node)"
        }
    }
}
