import Testing

@testable import SwitchyardCore

/// `[telemetry]` and the OpenTelemetry variables, and the OTLP protobuf the exporter posts.
@Suite struct TracingTests {
    static let models = """
        [providers.demo]
        format = "mock"

        [models.chat]
        backends = [ { provider = "demo", model = "m" } ]
        """

    func telemetry(_ table: String, environment: [String: String] = [:]) throws -> TelemetrySpec {
        try Seed(toml: table + "\n" + Self.models, environment: environment).telemetry
    }

    func errors(_ table: String, environment: [String: String] = [:]) -> [String] {
        do {
            _ = try Seed(toml: table + "\n" + Self.models, environment: environment)
            return []
        } catch {
            return error.errors.map { "\($0.key): \($0.reason)" }
        }
    }

    @Test func noEndpointNoExport() throws {
        #expect(try telemetry("").tracesURL == nil)
        #expect(try telemetry("").serviceName == "switchyard")
    }

    @Test func theSeedEndpointGetsTheTracesPathAndWinsOverTheEnvironment() throws {
        let environment = ["OTEL_EXPORTER_OTLP_ENDPOINT": "http://elsewhere:4318", "OTEL_SERVICE_NAME": "from-env"]
        let spec = try telemetry(
            "[telemetry]\notlp_endpoint = \"http://collector:4318/\"\nservice_name = \"gw\"", environment: environment)
        #expect(spec.tracesURL == "http://collector:4318/v1/traces")
        #expect(spec.serviceName == "gw")
    }

    @Test func theEnvironmentStandsInForTheSeed() throws {
        #expect(
            try telemetry("", environment: ["OTEL_EXPORTER_OTLP_ENDPOINT": "https://c.example:4318"]).tracesURL == "https://c.example:4318/v1/traces")
        let both = ["OTEL_EXPORTER_OTLP_ENDPOINT": "http://base:4318", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://t:4318/custom/traces"]
        #expect(try telemetry("", environment: both).tracesURL == "http://t:4318/custom/traces")
        let headers = try telemetry("", environment: ["OTEL_EXPORTER_OTLP_HEADERS": "api-key=a%3Db, x-team = gw"]).headers
        #expect(headers == ["api-key": .literal("a=b"), "x-team": .literal("gw")])
        let disabled = ["OTEL_EXPORTER_OTLP_ENDPOINT": "http://base:4318", "OTEL_SDK_DISABLED": "true"]
        #expect(try telemetry("", environment: disabled).tracesURL == nil)
    }

    @Test func badValuesAreRefusedNamingTheKeyAndNeverTheSecret() {
        #expect(errors("[telemetry]\notlp_endpoint = \"collector:4318\"").first?.hasPrefix("telemetry.otlp_endpoint: expected an http") == true)
        #expect(errors("", environment: ["OTEL_EXPORTER_OTLP_ENDPOINT": "grpc://c:4317"]).first?.contains("OTEL_EXPORTER_OTLP_ENDPOINT") == true)
        #expect(errors("[telemetry]\notlp_endpoint = \"http://u:pw@c:4318\"").first?.contains("credentials") == true)
        let grpc = ["OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"]
        #expect(errors("", environment: grpc).first?.contains("protobuf only") == true)
        let secret = "tok\r\nX-Evil: 1"
        let found = errors(
            "[telemetry]\notlp_endpoint = \"http://c:4318\"\notlp_headers = { Authorization = \"env:OTLP_AUTH\" }", environment: ["OTLP_AUTH": secret]
        )
        #expect(found.count == 1 && found[0].hasPrefix("telemetry.otlp_headers.Authorization: environment variable OTLP_AUTH"))
        #expect(!found.joined().contains("tok"))
        #expect(errors("[telemetry]\nspan_limit = 3").first?.hasPrefix("telemetry.span_limit") == true)
    }

    // MARK: The protobuf

    static func event() -> OutcomeEvent {
        var event = OutcomeEvent(
            time: 1_700_000_000, requestID: "req-1", userID: "alice", model: "chat", version: "v2", backend: "up/gpt", endpoint: "chat/completions",
            status: 200, stream: false, latencyMilliseconds: 250, inputTokens: 12, outputTokens: 34)
        event.failovers = 1
        var trace = RequestTrace(traceID: "4bf92f3577b34da6a3ce929d0e0e4736", spanID: "00f067aa0ba902b7", parentSpanID: nil, operation: "chat")
        trace.responseModel = "gpt-2026"
        var failed = UpstreamAttemptTrace(
            spanID: "1111111111111111", backend: "dead/x", providerID: "dead", providerFormat: .openai, upstreamModel: "x",
            startTime: 1_700_000_000.01)
        failed.endTime = 1_700_000_000.02
        failed.errorType = "upstream_unreachable"
        var answered = UpstreamAttemptTrace(
            spanID: "2222222222222222", backend: "up/gpt", providerID: "up", providerFormat: .azure, upstreamModel: "gpt", startTime: 1_700_000_000.02
        )
        answered.endTime = 1_700_000_000.25
        answered.status = 200
        trace.attempts = [failed, answered]
        event.trace = trace
        return event
    }

    @Test func anEventIsAServerSpanAndAClientSpanPerAttempt() throws {
        let encoder = OTLPTraceEncoder(serviceName: "gw", serviceVersion: "1.2.3", instanceID: "i-1")
        let untraced = OutcomeEvent(
            time: 1, requestID: "r", userID: "u", model: "m", version: "v", backend: "b", endpoint: "embeddings", status: 200, stream: false,
            latencyMilliseconds: 1)
        let request = try Protobuf(encoder.encode([Self.event(), untraced]))
        #expect(OTLPTraceEncoder.spanCount([Self.event(), untraced]) == 3)
        let resourceSpans = try request.messages(1)
        #expect(resourceSpans.count == 1)
        let resource = try resourceSpans[0].messages(1)[0]
        #expect(try resource.attributes(field: 1)["service.name"] == "gw")
        let scope = try resourceSpans[0].messages(2)[0]
        #expect(try scope.messages(1)[0].strings(1) == ["switchyard"])
        let spans = try scope.messages(2)
        #expect(spans.count == 3)

        let server = spans[0]
        #expect(server.bytes(1) == [Hex.decode("4bf92f3577b34da6a3ce929d0e0e4736")])
        #expect(server.bytes(2) == [Hex.decode("00f067aa0ba902b7")])
        #expect(server.bytes(4).isEmpty)
        #expect(try server.strings(5) == ["chat chat"])
        #expect(server.varints(6) == [2])
        #expect(server.fixed64s(7) == [1_700_000_000_000_000_000])
        #expect(server.fixed64s(8) == [1_700_000_000_250_000_000])
        let serverAttributes = try server.attributes(field: 9)
        #expect(serverAttributes["gen_ai.request.model"] == "chat")
        #expect(serverAttributes["gen_ai.response.model"] == "gpt-2026")
        #expect(serverAttributes["gen_ai.provider.name"] == "azure.ai.openai")
        #expect(serverAttributes["gen_ai.usage.output_tokens"] == "34")
        #expect(serverAttributes["switchyard.failover_count"] == "1")
        #expect(serverAttributes["error.type"] == nil)
        #expect(try server.messages(15).isEmpty)

        let failed = spans[1]
        #expect(failed.bytes(4) == [Hex.decode("00f067aa0ba902b7")])
        #expect(failed.varints(6) == [3])
        let failedAttributes = try failed.attributes(field: 9)
        #expect(failedAttributes["error.type"] == "upstream_unreachable")
        #expect(failedAttributes["gen_ai.usage.input_tokens"] == nil)
        #expect(try failed.messages(15)[0].varints(3) == [2])
        #expect(try spans[2].attributes(field: 9)["gen_ai.usage.input_tokens"] == "12")
    }
}

/// A protobuf message read back field by field: just enough to check what the encoder wrote.
private struct Protobuf {
    enum Value {
        case varint(UInt64)
        case fixed64(UInt64)
        case bytes([UInt8])
    }

    var fields: [(Int, Value)] = []

    init(_ bytes: [UInt8]) throws {
        var index = 0
        func varint() throws -> UInt64 {
            var value: UInt64 = 0
            var shift: UInt64 = 0
            while true {
                guard index < bytes.count else { throw Malformed() }
                let byte = bytes[index]
                index += 1
                value |= UInt64(byte & 0x7F) << shift
                if byte < 0x80 { return value }
                shift += 7
            }
        }
        while index < bytes.count {
            let key = try varint()
            switch key & 7 {
            case 0: fields.append((Int(key >> 3), .varint(try varint())))
            case 1:
                guard index + 8 <= bytes.count else { throw Malformed() }
                let value = bytes[index..<index + 8].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
                index += 8
                fields.append((Int(key >> 3), .fixed64(value)))
            case 2:
                let length = Int(try varint())
                guard index + length <= bytes.count else { throw Malformed() }
                fields.append((Int(key >> 3), .bytes(Array(bytes[index..<index + length]))))
                index += length
            default: throw Malformed()
            }
        }
    }

    struct Malformed: Error {}

    func bytes(_ field: Int) -> [[UInt8]] {
        fields.compactMap { number, value in
            guard number == field, case .bytes(let bytes) = value else { return nil }
            return bytes
        }
    }

    func messages(_ field: Int) throws -> [Protobuf] { try bytes(field).map(Protobuf.init) }
    func strings(_ field: Int) throws -> [String] { bytes(field).map { String(decoding: $0, as: UTF8.self) } }

    func varints(_ field: Int) -> [UInt64] {
        fields.compactMap { number, value in
            guard number == field, case .varint(let value) = value else { return nil }
            return value
        }
    }

    func fixed64s(_ field: Int) -> [UInt64] {
        fields.compactMap { number, value in
            guard number == field, case .fixed64(let value) = value else { return nil }
            return value
        }
    }

    /// `KeyValue`s by key, string values as they are and integers in decimal.
    func attributes(field: Int) throws -> [String: String] {
        var found: [String: String] = [:]
        for keyValue in try messages(field) {
            let key = try keyValue.strings(1)[0]
            let value = try keyValue.messages(2)[0]
            found[key] = try value.strings(1).first ?? value.varints(3).first.map { String(Int64(bitPattern: $0)) }
        }
        return found
    }
}

extension Hex {
    fileprivate static func decode(_ hex: String) -> [UInt8] {
        let digits = Array(hex.utf8)
        return stride(from: 0, to: digits.count, by: 2).map { UInt8(String(decoding: digits[$0..<$0 + 2], as: UTF8.self), radix: 16)! }
    }
}
