/// Writes TOML text for a seed: keys quoted when they must be, strings escaped.
package struct SeedWriter {
    package private(set) var text = ""

    package init(header: String) {
        for line in header.split(separator: "\n", omittingEmptySubsequences: false) { text += "# \(line)\n" }
    }

    package static func key(_ key: String) -> String {
        let bare =
            !key.isEmpty
            && key.unicodeScalars.allSatisfy {
                ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || $0 == "_" || $0 == "-"
            }
        return bare ? key : string(key)
    }

    package static func string(_ value: String) -> String {
        var escaped = "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": escaped += "\\\""
            case "\\": escaped += "\\\\"
            case "\n": escaped += "\\n"
            case "\t": escaped += "\\t"
            case "\r": escaped += "\\r"
            default:
                if scalar.value < 0x20 {
                    escaped += "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count) + String(scalar.value, radix: 16)
                } else {
                    escaped.unicodeScalars.append(scalar)
                }
            }
        }
        return escaped + "\""
    }

    package static func number(_ value: Double) -> String {
        value.rounded() == value && abs(value) < 1e15 ? String(Int(value)) : String(value)
    }

    package static func strings(_ values: [String]) -> String {
        "[" + values.map(string).joined(separator: ", ") + "]"
    }

    package mutating func table(_ path: [String]) {
        text += "\n[" + path.map(Self.key).joined(separator: ".") + "]\n"
    }

    package mutating func line(_ key: String, _ value: String) {
        text += "\(Self.key(key)) = \(value)\n"
    }

    /// Appends text as it is (e.g. a multi-line array).
    package mutating func raw(_ text: String) {
        self.text += text
    }

    package mutating func comment(_ comment: String) {
        text += "# \(comment)\n"
    }
}
