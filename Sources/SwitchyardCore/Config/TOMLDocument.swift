/// A parsed TOML value: a plain `Sendable` value, read by `TOMLParser`.
package indirect enum TOMLNode: Sendable, Equatable {
    case table([String: TOMLNode])
    case array([TOMLNode])
    case string(String)
    case integer(Int)
    case double(Double)
    case bool(Bool)
    /// Dates and times, as written in the file; no Switchyard key takes one.
    case other(String)

    /// Parses a whole TOML 1.0 document; syntax errors carry their line and column.
    package static func parse(_ text: String) throws(ConfigurationError) -> [String: TOMLNode] {
        try TOMLParser.parse(text)
    }

    var typeName: String {
        switch self {
        case .table: return "a table"
        case .array: return "an array"
        case .string: return "a string"
        case .integer: return "an integer"
        case .double: return "a number"
        case .bool: return "a boolean"
        case .other(let text): return text == "null" ? "null" : "a date or time"
        }
    }
}
