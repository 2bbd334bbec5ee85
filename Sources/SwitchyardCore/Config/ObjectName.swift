/// Names of configuration objects — providers, models, versions, users, experiments and their
/// variants — travel in URL paths, log lines, metric labels and response headers: one short line of
/// printable characters. The limits on lists keep one object from growing without bound.
package enum ObjectName {
    package static let maximumLength = 128
    package static let maximumDisplayLength = 256
    package static let maximumBackendsPerVersion = 64
    package static let maximumVersionsPerModel = 32
    package static let maximumListLength = 256

    /// Why `name` cannot name an object: empty, too long, or holding white space other than the
    /// space, or control characters.
    package static func problem(_ name: String) -> String? {
        if name.isEmpty { return "must not be empty" }
        if name.count > maximumLength { return "must be at most \(maximumLength) characters long" }
        if name.unicodeScalars.contains(where: { isUnprintable($0) || ($0.properties.isWhitespace && $0 != " ") }) {
            return "must be one line of printable characters: no tabs, line breaks or control characters"
        }
        return nil
    }

    /// Why `text` cannot be a display name or description: too long, or holding control characters.
    package static func displayProblem(_ text: String) -> String? {
        if text.count > maximumDisplayLength { return "must be at most \(maximumDisplayLength) characters long" }
        if text.unicodeScalars.contains(where: isUnprintable) { return "must not contain line breaks or control characters" }
        return nil
    }

    private static func isUnprintable(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .control, .format, .lineSeparator, .paragraphSeparator, .surrogate, .unassigned, .privateUse: return true
        default: return false
        }
    }
}

extension TableReader {
    /// A required string that names an object, checked by `ObjectName.problem`.
    package func requiredName(_ key: String) -> String? {
        guard let name = requiredString(key) else { return nil }
        if let problem = ObjectName.problem(name) {
            fail(key, problem)
            return nil
        }
        return name
    }

    /// An optional display text, checked by `ObjectName.displayProblem`.
    package func displayText(_ key: String) -> String? {
        guard let text = string(key) else { return nil }
        if let problem = ObjectName.displayProblem(text) {
            fail(key, problem)
            return nil
        }
        return text
    }

    /// Fails `key` when `count` is above `limit`; says which limit.
    package func checkCount(_ count: Int, of key: String, atMost limit: Int, what: String) {
        if count > limit { fail(key, "at most \(limit) \(what) (got \(count))") }
    }
}
