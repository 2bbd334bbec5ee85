/// Command-line options of one subcommand: `--name value` pairs, each name at most once.
struct Arguments {
    private var values: [String: String] = [:]

    /// Reads `--name value` pairs; anything else is a usage error.
    init(_ arguments: ArraySlice<String>) throws(UsageError) {
        var iterator = arguments.makeIterator()
        while let name = iterator.next() {
            guard name.hasPrefix("--"), name.count > 2 else { throw UsageError("unexpected argument \(name)") }
            guard let value = iterator.next() else { throw UsageError("\(name) needs a value") }
            guard values.updateValue(value, forKey: String(name.dropFirst(2))) == nil else { throw UsageError("\(name) given twice") }
        }
    }

    /// Fails on any option the subcommand does not know, so a typo is not silently ignored.
    func allowOnly(_ names: Set<String>) throws(UsageError) {
        if let unknown = values.keys.sorted().first(where: { !names.contains($0) }) { throw UsageError("unknown option --\(unknown)") }
    }

    func string(_ name: String) throws(UsageError) -> String {
        guard let value = values[name] else { throw UsageError("--\(name) is required") }
        return value
    }

    func string(_ name: String, default fallback: String) -> String { values[name] ?? fallback }

    /// An integer option within `range`.
    func int(_ name: String, default fallback: Int? = nil, in range: ClosedRange<Int>) throws(UsageError) -> Int {
        guard let text = values[name] else {
            guard let fallback else { throw UsageError("--\(name) is required") }
            return fallback
        }
        guard let value = Int(text), range.contains(value) else {
            throw UsageError("--\(name) must be an integer from \(range.lowerBound) to \(range.upperBound), not \(text)")
        }
        return value
    }

    /// A number option within `range`.
    func double(_ name: String, default fallback: Double, in range: ClosedRange<Double>) throws(UsageError) -> Double {
        guard let text = values[name] else { return fallback }
        guard let value = Double(text), range.contains(value) else {
            throw UsageError("--\(name) must be a number from \(range.lowerBound) to \(range.upperBound), not \(text)")
        }
        return value
    }
}

/// A wrong command line: printed with the usage text, exit status 2.
struct UsageError: Error {
    let message: String
    init(_ message: String) { self.message = message }
}

/// An `http://` URL on the loopback interface: the load tools never send anywhere else.
struct LoopbackURL {
    let host: String
    let port: Int
    let path: String

    init(_ text: String) throws(UsageError) {
        guard text.hasPrefix("http://") else { throw UsageError("only http:// URLs are supported: \(text)") }
        let rest = text.dropFirst("http://".count)
        let authority = rest.prefix { $0 != "/" }
        let path = rest.dropFirst(authority.count)
        guard let colon = authority.lastIndex(of: ":"), let port = Int(authority[authority.index(after: colon)...]), (1...65535).contains(port)
        else { throw UsageError("the URL needs an explicit port: \(text)") }
        let host = String(authority[..<colon])
        guard host == "127.0.0.1" || host == "localhost" else { throw UsageError("only 127.0.0.1 is allowed as the host: \(text)") }
        self.host = "127.0.0.1"
        self.port = port
        self.path = path.isEmpty ? "/" : String(path)
    }

    var hostHeader: String { "\(host):\(port)" }
}
