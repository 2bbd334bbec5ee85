import TOMLKit

/// A parsed TOML value, copied out of TOMLKit's reference types so it is a plain `Sendable` value.
package indirect enum TOMLNode: Sendable, Equatable {
    case table([String: TOMLNode])
    case array([TOMLNode])
    case string(String)
    case integer(Int)
    case double(Double)
    case bool(Bool)
    /// Dates and times, which no Switchyard key takes.
    case other(String)

    /// Parses a whole TOML document; syntax errors carry their line and column.
    package static func parse(_ text: String) throws(ConfigurationError) -> [String: TOMLNode] {
        let table: TOMLTable
        do {
            table = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            throw ConfigurationError(
                key: "", reason: "TOML syntax: \(error.description)",
                line: error.source.begin.line, column: error.source.begin.column)
        } catch {
            throw ConfigurationError(key: "", reason: "TOML syntax: \(error)")
        }
        return Self.copy(table)
    }

    private static func copy(_ table: TOMLTable) -> [String: TOMLNode] {
        var result: [String: TOMLNode] = [:]
        for key in table.keys {
            if let value = table[key] {
                result[key] = copy(value.tomlValue)
            }
        }
        return result
    }

    private static func copy(_ value: TOMLValue) -> TOMLNode {
        switch value.type {
        case .table: return .table(value.table.map(copy) ?? [:])
        case .array: return .array(value.array.map { $0.map { copy($0.tomlValue) } } ?? [])
        case .string: return .string(value.string ?? "")
        case .int: return .integer(value.int ?? 0)
        case .double: return .double(value.double ?? 0)
        case .bool: return .bool(value.bool ?? false)
        case .date, .time, .dateTime: return .other(value.debugDescription)
        }
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
