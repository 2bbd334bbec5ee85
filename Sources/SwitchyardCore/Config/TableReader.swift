/// Collects every configuration error found while reading one document.
package final class ErrorCollector {
    package private(set) var errors: [ConfigurationError] = []

    package init() {}

    package func add(_ key: String, _ reason: String) {
        errors.append(ConfigurationError(key: key, reason: reason))
    }
}

/// Reads one TOML table strictly: wrong types and unknown keys are errors naming the key, and
/// integers are accepted where numbers are expected (TOMLKit's decoder would reject `120` for a `Double`).
package final class TableReader {
    package let path: String
    package let values: [String: TOMLNode]
    package let errors: ErrorCollector
    private var consumed: Set<String> = []

    package init(path: String, values: [String: TOMLNode], errors: ErrorCollector) {
        self.path = path
        self.values = values
        self.errors = errors
    }

    package func keyPath(_ key: String) -> String {
        path.isEmpty || key.isEmpty ? path + key : "\(path).\(key)"
    }

    package func fail(_ key: String, _ reason: String) {
        errors.add(keyPath(key), reason)
    }

    func take(_ key: String) -> TOMLNode? {
        consumed.insert(key)
        return values[key]
    }

    private func wrongType(_ key: String, expected: String, got node: TOMLNode) {
        fail(key, "expected \(expected), got \(node.typeName)")
    }

    package func string(_ key: String) -> String? {
        guard let node = take(key) else { return nil }
        guard case .string(let value) = node else {
            wrongType(key, expected: "a string", got: node)
            return nil
        }
        return value
    }

    package func requiredString(_ key: String) -> String? {
        if values[key] == nil {
            consumed.insert(key)
            fail(key, "is required")
            return nil
        }
        return string(key)
    }

    package func bool(_ key: String) -> Bool? {
        guard let node = take(key) else { return nil }
        guard case .bool(let value) = node else {
            wrongType(key, expected: "true or false", got: node)
            return nil
        }
        return value
    }

    package func number(_ key: String) -> Double? {
        guard let node = take(key) else { return nil }
        switch node {
        case .integer(let value): return Double(value)
        case .double(let value): return value
        default:
            wrongType(key, expected: "a number", got: node)
            return nil
        }
    }

    package func integer(_ key: String) -> Int? {
        guard let node = take(key) else { return nil }
        switch node {
        case .integer(let value): return value
        case .double(let value) where value.rounded() == value && abs(value) < 1e15: return Int(value)
        default:
            wrongType(key, expected: "a whole number", got: node)
            return nil
        }
    }

    /// A number that must lie in `range`; reports the key otherwise.
    package func number(_ key: String, in range: ClosedRange<Double>) -> Double? {
        guard let value = number(key) else { return nil }
        guard range.contains(value) else {
            fail(key, "must be between \(Self.format(range.lowerBound)) and \(Self.format(range.upperBound)), got \(Self.format(value))")
            return nil
        }
        return value
    }

    /// A percentage in `range` with at most two decimals, as basis points (`12.5` → 1250).
    package func percentBasisPoints(_ key: String, in range: ClosedRange<Double> = 0...100) -> Int? {
        guard let percent = number(key, in: range) else { return nil }
        guard let points = basisPoints(fromPercent: percent) else {
            fail(key, "a percentage with at most two decimals, got \(percent)")
            return nil
        }
        return points
    }

    package func integer(_ key: String, in range: ClosedRange<Int>) -> Int? {
        guard let value = integer(key) else { return nil }
        guard range.contains(value) else {
            fail(key, "must be between \(range.lowerBound) and \(range.upperBound), got \(value)")
            return nil
        }
        return value
    }

    package func strings(_ key: String) -> [String]? {
        guard let node = take(key) else { return nil }
        guard case .array(let items) = node else {
            wrongType(key, expected: "an array of strings", got: node)
            return nil
        }
        var result: [String] = []
        for (index, item) in items.enumerated() {
            guard case .string(let value) = item else {
                errors.add("\(keyPath(key))[\(index)]", "expected a string, got \(item.typeName)")
                continue
            }
            result.append(value)
        }
        return result
    }

    package func table(_ key: String) -> TableReader? {
        guard let node = take(key) else { return nil }
        guard case .table(let values) = node else {
            wrongType(key, expected: "a table", got: node)
            return nil
        }
        return TableReader(path: keyPath(key), values: values, errors: errors)
    }

    /// The sub-tables of a table keyed by name, e.g. every `[providers.NAME]`, in name order.
    package func namedTables(_ key: String) -> [(name: String, reader: TableReader)] {
        guard let reader = table(key) else { return [] }
        var result: [(String, TableReader)] = []
        for name in reader.values.keys.sorted() {
            if let problem = ObjectName.problem(name) {
                reader.fail(name, "the name \(problem)")
                _ = reader.take(name)
                continue
            }
            if let child = reader.table(name) {
                result.append((name, child))
            }
        }
        return result
    }

    /// An array of inline tables, e.g. `backends = [ { … }, { … } ]`.
    package func tables(_ key: String) -> [TableReader]? {
        guard let node = take(key) else { return nil }
        guard case .array(let items) = node else {
            wrongType(key, expected: "an array of tables", got: node)
            return nil
        }
        var result: [TableReader] = []
        for (index, item) in items.enumerated() {
            let itemPath = "\(keyPath(key))[\(index)]"
            guard case .table(let values) = item else {
                errors.add(itemPath, "expected a table, got \(item.typeName)")
                continue
            }
            result.append(TableReader(path: itemPath, values: values, errors: errors))
        }
        return result
    }

    /// A table of arbitrary values converted to JSON, e.g. a version's `params`.
    package func jsonObject(_ key: String) -> [String: JSONValue]? {
        guard let node = take(key) else { return nil }
        guard case .table(let values) = node else {
            wrongType(key, expected: "a table", got: node)
            return nil
        }
        var result: [String: JSONValue] = [:]
        for (name, value) in values {
            if let json = json(value, at: "\(keyPath(key)).\(name)") {
                result[name] = json
            }
        }
        return result
    }

    /// A table whose values are all strings, e.g. extra headers.
    package func stringTable(_ key: String) -> [String: String]? {
        guard let node = take(key) else { return nil }
        guard case .table(let values) = node else {
            wrongType(key, expected: "a table of strings", got: node)
            return nil
        }
        var result: [String: String] = [:]
        for (name, value) in values {
            guard case .string(let text) = value else {
                errors.add("\(keyPath(key)).\(name)", "expected a string, got \(value.typeName)")
                continue
            }
            result[name] = text
        }
        return result
    }

    private func json(_ node: TOMLNode, at path: String) -> JSONValue? {
        switch node {
        case .string(let value): return .string(value)
        case .integer(let value): return .number(Double(value))
        case .double(let value): return .number(value)
        case .bool(let value): return .bool(value)
        case .array(let items): return .array(items.enumerated().compactMap { json($1, at: "\(path)[\($0)]") })
        case .table(let values):
            var object: [String: JSONValue] = [:]
            for (name, value) in values {
                object[name] = json(value, at: "\(path).\(name)")
            }
            return .object(object)
        case .other:
            errors.add(path, "dates and times are not supported here")
            return nil
        }
    }

    /// Reports every key that no reader asked for: a typo in a seed must not pass silently.
    package func rejectUnknownKeys() {
        for key in values.keys.sorted() where !consumed.contains(key) {
            fail(key, "unknown key")
        }
    }

    static func format(_ value: Double) -> String {
        value.rounded() == value && abs(value) < 1e15 ? String(Int(value)) : String(value)
    }
}
