/// A problem with a configuration value, naming the key it was found at and why it is wrong.
package struct ConfigurationError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Dotted path of the offending key, e.g. `models.chat.versions.v1.weight`; empty for the whole file.
    package var key: String
    package var reason: String
    /// Where in the file, when the parser knows (syntax errors).
    package var line: Int?
    package var column: Int?

    package init(key: String, reason: String, line: Int? = nil, column: Int? = nil) {
        self.key = key
        self.reason = reason
        self.line = line
        self.column = column
    }

    package var description: String {
        var text = ""
        if let line {
            text += "line \(line)"
            if let column { text += ", column \(column)" }
            text += ": "
        }
        if !key.isEmpty { text += "\(key): " }
        return text + reason
    }
}

/// Every problem found in one configuration document; a document with any error applies nothing.
package struct ConfigurationErrors: Error, Sendable, CustomStringConvertible {
    package var errors: [ConfigurationError]

    package init(_ errors: [ConfigurationError]) {
        self.errors = errors
    }

    package var description: String {
        errors.map(\.description).joined(separator: "\n")
    }
}
