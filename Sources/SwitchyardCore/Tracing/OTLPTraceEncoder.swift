/// Encodes finished requests as an OTLP `ExportTraceServiceRequest` in protobuf's binary format, the
/// body of `POST /v1/traces` (OTLP/HTTP): a server span per request and a client span per upstream
/// attempt, with the OpenTelemetry GenAI attributes and Switchyard's own. Field numbers are those of
/// `opentelemetry/proto/trace/v1/trace.proto` and `common/v1/common.proto`.
package struct OTLPTraceEncoder: Sendable {
    package var serviceName: String
    package var serviceVersion: String
    /// `service.instance.id`: tells apart gateways that share a service name.
    package var instanceID: String

    package init(serviceName: String, serviceVersion: String, instanceID: String) {
        self.serviceName = serviceName
        self.serviceVersion = serviceVersion
        self.instanceID = instanceID
    }

    /// The spans of `events` that carry a trace, as one export request.
    package func encode(_ events: [OutcomeEvent]) -> [UInt8] {
        var scopeSpans = ProtobufWriter()
        scopeSpans.message(1) { scope in
            scope.string(1, "switchyard")
            scope.string(2, serviceVersion)
        }
        for event in events {
            guard let trace = event.trace else { continue }
            scopeSpans.message(2) { span in serverSpan(event, trace, into: &span) }
            for (index, attempt) in trace.attempts.enumerated() {
                let isLast = index == trace.attempts.count - 1
                scopeSpans.message(2) { span in clientSpan(attempt, of: event, trace, isLast: isLast, into: &span) }
            }
        }
        var resourceSpans = ProtobufWriter()
        resourceSpans.message(1) { resource in
            resource.attribute("service.name", .string(serviceName), field: 1)
            resource.attribute("service.version", .string(serviceVersion), field: 1)
            resource.attribute("service.instance.id", .string(instanceID), field: 1)
            resource.attribute("telemetry.sdk.name", .string("switchyard"), field: 1)
            resource.attribute("telemetry.sdk.language", .string("swift"), field: 1)
        }
        resourceSpans.embed(2, scopeSpans)
        var request = ProtobufWriter()
        request.embed(1, resourceSpans)
        return request.bytes
    }

    /// How many spans `encode` writes for `events`.
    package static func spanCount(_ events: some Sequence<OutcomeEvent>) -> Int {
        events.reduce(0) { count, event in count + (event.trace.map { 1 + $0.attempts.count } ?? 0) }
    }

    private func serverSpan(_ event: OutcomeEvent, _ trace: RequestTrace, into span: inout ProtobufWriter) {
        span.hexBytes(1, trace.traceID)
        span.hexBytes(2, trace.spanID)
        if let parent = trace.parentSpanID { span.hexBytes(4, parent) }
        span.string(5, "\(trace.operation) \(event.model)")
        span.varint(6, 2)  // SPAN_KIND_SERVER
        span.fixed64(7, Self.unixNanoseconds(event.time))
        span.fixed64(8, Self.unixNanoseconds(event.time + event.latencyMilliseconds / 1000))
        span.attribute("gen_ai.operation.name", .string(trace.operation))
        span.attribute("gen_ai.request.model", .string(event.model))
        if let last = trace.attempts.last { span.attribute("gen_ai.provider.name", .string(last.providerFormat.openTelemetryProviderName)) }
        if let model = trace.responseModel { span.attribute("gen_ai.response.model", .string(model)) }
        if event.inputTokens > 0 || event.outputTokens > 0 {
            span.attribute("gen_ai.usage.input_tokens", .int(event.inputTokens))
            span.attribute("gen_ai.usage.output_tokens", .int(event.outputTokens))
        }
        span.attribute("http.request.method", .string("POST"))
        span.attribute("url.path", .string("/v1/\(event.endpoint)"))
        span.attribute("http.response.status_code", .int(event.status))
        span.attribute("switchyard.request_id", .string(event.requestID))
        span.attribute("switchyard.user", .string(event.userID))
        if !event.version.isEmpty { span.attribute("switchyard.version", .string(event.version)) }
        if !event.backend.isEmpty { span.attribute("switchyard.backend", .string(event.backend)) }
        if let experiment = event.experiment { span.attribute("switchyard.experiment", .string(experiment)) }
        if let variant = event.variant { span.attribute("switchyard.variant", .string(variant)) }
        span.attribute("switchyard.failover_count", .int(event.failovers))
        if event.isError {
            span.attribute("error.type", .string(event.status == 499 ? "client_closed" : String(event.status)))
        }
        span.status(isError: event.isError, message: event.isError ? event.error : nil)
    }

    private func clientSpan(
        _ attempt: UpstreamAttemptTrace, of event: OutcomeEvent, _ trace: RequestTrace, isLast: Bool, into span: inout ProtobufWriter
    ) {
        span.hexBytes(1, trace.traceID)
        span.hexBytes(2, attempt.spanID)
        span.hexBytes(4, trace.spanID)
        span.string(5, "\(trace.operation) \(attempt.upstreamModel)")
        span.varint(6, 3)  // SPAN_KIND_CLIENT
        span.fixed64(7, Self.unixNanoseconds(attempt.startTime))
        span.fixed64(8, Self.unixNanoseconds(attempt.endTime ?? attempt.startTime))
        span.attribute("gen_ai.operation.name", .string(trace.operation))
        span.attribute("gen_ai.provider.name", .string(attempt.providerFormat.openTelemetryProviderName))
        span.attribute("gen_ai.request.model", .string(attempt.upstreamModel))
        if isLast, attempt.errorType == nil {
            if let model = trace.responseModel { span.attribute("gen_ai.response.model", .string(model)) }
            if event.inputTokens > 0 || event.outputTokens > 0 {
                span.attribute("gen_ai.usage.input_tokens", .int(event.inputTokens))
                span.attribute("gen_ai.usage.output_tokens", .int(event.outputTokens))
            }
        }
        if let status = attempt.status { span.attribute("http.response.status_code", .int(status)) }
        span.attribute("switchyard.backend", .string(attempt.backend))
        span.attribute("switchyard.provider", .string(attempt.providerID))
        if let errorType = attempt.errorType { span.attribute("error.type", .string(errorType)) }
        span.status(isError: attempt.errorType != nil, message: nil)
    }

    /// Whole seconds and the fraction apart: `seconds * 1e9` as one Double would lose the last digits.
    static func unixNanoseconds(_ seconds: Double) -> UInt64 {
        guard seconds > 0, seconds < 1e10 else { return 0 }
        let whole = seconds.rounded(.down)
        return UInt64(whole) * 1_000_000_000 + UInt64(((seconds - whole) * 1e9).rounded())
    }
}

/// An attribute value of the kinds the spans use.
enum AttributeValue {
    case string(String)
    case int(Int)
}

/// Protobuf's binary wire format, enough for OTLP: varints, fixed64, strings, bytes and nested messages.
struct ProtobufWriter {
    private(set) var bytes: [UInt8] = []

    private mutating func tag(_ field: Int, _ wireType: UInt64) {
        appendVarint(UInt64(field) << 3 | wireType)
    }

    private mutating func appendVarint(_ value: UInt64) {
        var value = value
        while value >= 0x80 {
            bytes.append(UInt8(value & 0x7F) | 0x80)
            value >>= 7
        }
        bytes.append(UInt8(value))
    }

    mutating func varint(_ field: Int, _ value: UInt64) {
        tag(field, 0)
        appendVarint(value)
    }

    mutating func fixed64(_ field: Int, _ value: UInt64) {
        tag(field, 1)
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    mutating func string(_ field: Int, _ value: String) {
        tag(field, 2)
        appendVarint(UInt64(value.utf8.count))
        bytes.append(contentsOf: value.utf8)
    }

    /// A trace or span id given as hex, written as its bytes.
    mutating func hexBytes(_ field: Int, _ hex: String) {
        let digits = Array(hex.utf8)
        tag(field, 2)
        appendVarint(UInt64(digits.count / 2))
        var index = 0
        while index + 1 < digits.count {
            bytes.append((Hex.value(of: digits[index]) ?? 0) << 4 | (Hex.value(of: digits[index + 1]) ?? 0))
            index += 2
        }
    }

    mutating func embed(_ field: Int, _ message: ProtobufWriter) {
        tag(field, 2)
        appendVarint(UInt64(message.bytes.count))
        bytes.append(contentsOf: message.bytes)
    }

    mutating func message(_ field: Int, _ build: (inout ProtobufWriter) -> Void) {
        var message = ProtobufWriter()
        build(&message)
        embed(field, message)
    }

    /// A `KeyValue` in the repeated `attributes` field (1 in `Resource`, 9 in `Span`).
    mutating func attribute(_ key: String, _ value: AttributeValue, field: Int = 9) {
        message(field) { keyValue in
            keyValue.string(1, key)
            keyValue.message(2) { anyValue in
                switch value {
                case .string(let text): anyValue.string(1, text)
                case .int(let number): anyValue.varint(3, UInt64(bitPattern: Int64(number)))
                }
            }
        }
    }

    /// A span's `status` (field 15): `STATUS_CODE_ERROR` with its message, or unset.
    mutating func status(isError: Bool, message text: String?) {
        guard isError else { return }
        message(15) { status in
            if let text { status.string(2, text) }
            status.varint(3, 2)
        }
    }
}
