/// The `[telemetry]` table: where traces go. Read at start, like `[server]`; the OpenTelemetry
/// environment variables stand in for keys the seed leaves out.
package struct TelemetrySpec: Sendable, Hashable {
    package static let defaultServiceName = "switchyard"

    /// Where spans are posted (OTLP/HTTP, protobuf): `{otlp_endpoint}/v1/traces`; `nil` exports nothing.
    package var tracesURL: String?
    /// `service.name` of every span.
    package var serviceName = Self.defaultServiceName
    /// Sent with every export, e.g. a collector's API key; values may be `env:` references.
    package var headers: [String: SecretReference] = [:]

    package init(tracesURL: String? = nil, serviceName: String = Self.defaultServiceName, headers: [String: SecretReference] = [:]) {
        self.tracesURL = tracesURL
        self.serviceName = serviceName
        self.headers = headers
    }

    /// The seed's keys first, then `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (a whole URL),
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` (a base URL), `OTEL_SERVICE_NAME` and `OTEL_EXPORTER_OTLP_HEADERS`;
    /// `OTEL_SDK_DISABLED=true` turns export off. Problems are reported on `table` (or on the key the
    /// variable stands in for, when there is no table).
    static func read(from table: TableReader, environment: [String: String]) -> TelemetrySpec {
        var spec = TelemetrySpec()
        let endpoint = table.string("otlp_endpoint")
        spec.serviceName = table.string("service_name") ?? environment["OTEL_SERVICE_NAME"] ?? Self.defaultServiceName
        if spec.serviceName.isEmpty || SecretReference.holdsControlCharacter(spec.serviceName) {
            table.fail("service_name", "must be one line of printable characters")
        }
        let headers = (table.stringTable("otlp_headers") ?? [:]).mapValues(SecretReference.init(parsing:))
        spec.headers = headers.isEmpty ? Self.environmentHeaders(environment["OTEL_EXPORTER_OTLP_HEADERS"], table: table) : headers
        for name in spec.headers.keys.sorted() {
            if !SecretReference.isHeaderName(name) { table.fail("otlp_headers", SecretReference.headerNameProblem(name)) }
            if let problem = spec.headers[name]?.problem(in: environment) { table.fail("otlp_headers.\(name)", problem) }
        }
        table.rejectUnknownKeys()

        if environment["OTEL_SDK_DISABLED"]?.lowercased() == "true" && endpoint == nil { return spec }
        if let endpoint {
            spec.tracesURL = Self.joined(endpoint, "v1/traces")
            check(endpoint, key: "otlp_endpoint", on: table)
        } else if let url = environment["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"], !url.isEmpty {
            spec.tracesURL = url
            check(url, key: "otlp_endpoint", from: "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", on: table)
        } else if let base = environment["OTEL_EXPORTER_OTLP_ENDPOINT"], !base.isEmpty {
            spec.tracesURL = Self.joined(base, "v1/traces")
            check(base, key: "otlp_endpoint", from: "OTEL_EXPORTER_OTLP_ENDPOINT", on: table)
        }
        if spec.tracesURL != nil, endpoint == nil,
            let exportProtocol = environment["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"] ?? environment["OTEL_EXPORTER_OTLP_PROTOCOL"],
            exportProtocol != "http/protobuf"
        {
            table.fail("otlp_endpoint", "traces are exported over OTLP/HTTP with protobuf only; OTEL_EXPORTER_OTLP_PROTOCOL is \"\(exportProtocol)\"")
        }
        return spec
    }

    private static func check(_ url: String, key: String, from variable: String? = nil, on table: TableReader) {
        let source = variable.map { " (from \($0))" } ?? ""
        guard URLCredentials.isHTTPURL(url) else {
            table.fail(key, "expected an http:// or https:// URL such as http://127.0.0.1:4318, got \"\(URLCredentials.redacted(url))\"\(source)")
            return
        }
        if URLCredentials.hasUserInfo(url) {
            table.fail(key, "must not carry credentials; send them with otlp_headers\(source)")
        }
    }

    /// `base` and `path` with exactly one slash between them.
    static func joined(_ base: String, _ path: String) -> String {
        var base = Substring(base)
        while base.hasSuffix("/") { base = base.dropLast() }
        return "\(base)/\(path)"
    }

    /// `key=value` pairs separated by commas, values percent-encoded (the OpenTelemetry convention).
    private static func environmentHeaders(_ text: String?, table: TableReader) -> [String: SecretReference] {
        guard let text, !text.isEmpty else { return [:] }
        var headers: [String: SecretReference] = [:]
        for pair in text.split(separator: ",") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, let value = String(parts[1]).removingPercentEncodingIfValid() else {
                table.fail("otlp_headers", "OTEL_EXPORTER_OTLP_HEADERS must be name=value pairs separated by commas")
                return [:]
            }
            headers[parts[0].trimmingSpaces()] = .literal(value.trimmingSpaces())
        }
        return headers
    }
}

extension StringProtocol {
    fileprivate func trimmingSpaces() -> String {
        String(drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
    }

    /// Percent-decoded; `nil` when an escape is malformed or the bytes are not UTF-8.
    fileprivate func removingPercentEncodingIfValid() -> String? {
        var bytes: [UInt8] = []
        var iterator = utf8.makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard let high = iterator.next().flatMap(Hex.value(of:)), let low = iterator.next().flatMap(Hex.value(of:)) else { return nil }
            bytes.append(high << 4 | low)
        }
        return String(validating: bytes, as: UTF8.self)
    }
}
