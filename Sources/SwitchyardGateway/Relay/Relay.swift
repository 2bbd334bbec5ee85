import AsyncHTTPClient
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import SwitchyardCore

/// Sends a routed request to its backend and passes the answer to the client: whole for plain
/// answers, event by event for streams (never buffered). Records one outcome however it ends.
package struct Relay: Sendable {
    /// Plain (non-stream) upstream answers larger than this are refused.
    static let maxUpstreamBodyBytes = 64 * 1024 * 1024
    static let maxUpstreamErrorBodyBytes = 1024 * 1024

    private let openAI: OpenAIUpstream
    private let mock: MockUpstream
    private let sink: any OutcomeSink

    package init(openAI: OpenAIUpstream, mock: MockUpstream, sink: any OutcomeSink) {
        self.openAI = openAI
        self.mock = mock
        self.sink = sink
    }

    private func adapter(for format: ProviderFormat) -> any ProviderAdapter {
        switch format {
        case .openai: return openAI
        case .mock: return mock
        }
    }

    func forward(
        _ request: UpstreamRequest, decision: RouteDecision, settings: GatewaySettings, outcome draft: OutcomeDraft,
        clientWantsUsage: Bool, logger: Logger
    ) async throws -> Response {
        let backend = decision.backends[0]
        var draft = draft
        draft.version = decision.version.name
        draft.backend = backend.label
        var headers: HTTPFields = [.switchyardVersion: decision.version.name, .switchyardBackend: backend.label]
        let timeout = backend.provider.spec.timeoutSeconds ?? settings.requestTimeoutSeconds
        let deadline = draft.startedAt + .milliseconds(Int64(timeout * 1000))

        let upstream: UpstreamResponse
        do {
            upstream = try await adapter(for: backend.provider.spec.format).send(request, to: backend, settings: settings)
        } catch {
            let gatewayError = (error as? GatewayError ?? .upstreamUnreachable("\(error)")).adding(headers)
            sink.record(draft.finish(status: Int(gatewayError.status.code), error: gatewayError.message))
            throw gatewayError
        }

        guard (200..<300).contains(upstream.status) else {
            return try await relayUpstreamError(upstream, headers: headers, draft: draft)
        }
        let isEventStream = upstream.contentType?.hasPrefix("text/event-stream") ?? false
        guard request.stream && isEventStream else {
            return try await relayWhole(upstream, headers: headers, deadline: deadline, draft: draft, provider: backend.provider.spec)
        }
        headers[.contentType] = "text/event-stream"
        headers[.cacheControl] = "no-cache"
        headers[.accelBuffering] = "no"
        let sink = self.sink
        let provider = backend.provider.spec
        let streamDraft = draft
        return Response(
            status: .ok, headers: headers,
            body: ResponseBody { writer in
                try await Self.relayStream(
                    upstream.body, to: &writer, deadline: deadline, clientWantsUsage: clientWantsUsage, draft: streamDraft,
                    provider: provider, sink: sink, logger: logger)
            })
    }

    private func relayWhole(
        _ upstream: UpstreamResponse, headers: HTTPFields, deadline: ContinuousClock.Instant, draft: OutcomeDraft, provider: ProviderSpec
    ) async throws -> Response {
        var body = ByteBuffer()
        let firstByteAt: ContinuousClock.Instant
        do {
            for try await chunk in upstream.body {
                guard ContinuousClock.now < deadline else { throw GatewayError.upstreamTimeout() }
                guard body.readableBytes + chunk.readableBytes <= Self.maxUpstreamBodyBytes else {
                    throw GatewayError.badUpstreamResponse("answer larger than \(Self.maxUpstreamBodyBytes) bytes")
                }
                body.writeImmutableBuffer(chunk)
            }
            firstByteAt = .now
        } catch {
            let gatewayError = Self.bodyReadError(error).adding(headers)
            sink.record(draft.finish(status: Int(gatewayError.status.code), provider: provider, error: gatewayError.message))
            throw gatewayError
        }
        let usage = body.withUnsafeReadableBytes { UsageReader.usage(in: $0) }
        sink.record(draft.finish(status: upstream.status, firstByteAt: firstByteAt, usage: usage, provider: provider))
        var headers = headers
        headers[.contentType] = upstream.contentType ?? "application/json"
        headers[.contentLength] = String(body.readableBytes)
        return Response(status: .init(code: upstream.status), headers: headers, body: .init(byteBuffer: body))
    }

    /// An upstream's error answer goes to the client with its status when it is OpenAI-shaped JSON,
    /// otherwise as a 502 that names the upstream status.
    private func relayUpstreamError(_ upstream: UpstreamResponse, headers: HTTPFields, draft: OutcomeDraft) async throws -> Response {
        let body = try? await upstream.body.collect(upTo: Self.maxUpstreamErrorBodyBytes)
        let isErrorJSON =
            body.map { buffer in
                (upstream.contentType?.contains("json") ?? false) && buffer.contains("\"error\"")
            } ?? false
        guard let body, isErrorJSON else {
            let error = GatewayError.badUpstreamResponse("HTTP \(upstream.status)").adding(headers)
            sink.record(draft.finish(status: 502, error: error.message))
            throw error
        }
        sink.record(draft.finish(status: upstream.status, error: "upstream HTTP \(upstream.status)"))
        var headers = headers
        headers[.contentType] = "application/json"
        headers[.contentLength] = String(body.readableBytes)
        return Response(status: .init(code: upstream.status), headers: headers, body: .init(byteBuffer: body))
    }

    private static func bodyReadError(_ error: any Error) -> GatewayError {
        switch error {
        case let error as GatewayError: return error
        case let error as HTTPClientError: return OpenAIUpstream.gatewayError(for: error)
        default: return .upstreamUnreachable("\(error)")
        }
    }

    /// Passes the upstream's events on as they arrive. Takes usage from the stream and drops the
    /// usage-only chunk the client did not ask for. An upstream that fails or stops before `[DONE]`
    /// ends the client's stream with an error event and no `[DONE]`, never as a clean end.
    private static func relayStream(
        _ body: UpstreamBody, to writer: inout any ResponseBodyWriter, deadline: ContinuousClock.Instant, clientWantsUsage: Bool,
        draft: OutcomeDraft, provider: ProviderSpec, sink: any OutcomeSink, logger: Logger
    ) async throws {
        var scanner = ServerSentEventScanner()
        var usage: TokenUsage?
        var sawDone = false
        var firstByteAt: ContinuousClock.Instant?
        var upstreamFailure: GatewayError?
        var iterator = body.makeAsyncIterator()
        while true {
            let chunk: ByteBuffer?
            do {
                chunk = try await iterator.next()
            } catch {
                if Task.isCancelled {
                    sink.record(draft.finish(status: 499, firstByteAt: firstByteAt, usage: usage, provider: provider, error: "client went away"))
                    throw error
                }
                upstreamFailure = bodyReadError(error)
                break
            }
            guard let chunk else { break }
            let now = ContinuousClock.now
            if firstByteAt == nil { firstByteAt = now }
            if now >= deadline {
                upstreamFailure = .upstreamTimeout()
                break
            }
            var output = ByteBuffer()
            for event in scanner.events(appending: chunk) {
                if event.contains("[DONE]") { sawDone = true }
                if event.contains("\"usage\"") {
                    let found = Self.withEventData(event) { UsageReader.usage(in: $0) } ?? nil
                    if let found {
                        usage = found
                        if !clientWantsUsage && Self.withEventData(event, UsageReader.isUsageOnlyChunk) == true { continue }
                    }
                }
                output.writeImmutableBuffer(event)
            }
            guard output.readableBytes > 0 else { continue }
            do {
                try await writer.write(output)
            } catch {
                sink.record(draft.finish(status: 499, firstByteAt: firstByteAt, usage: usage, provider: provider, error: "client went away"))
                throw error
            }
        }
        let remainder = scanner.remainder
        if remainder.readableBytes > 0 {
            if remainder.contains("[DONE]") { sawDone = true }
            try? await writer.write(remainder)
        }
        if upstreamFailure == nil && !sawDone {
            upstreamFailure = .badUpstreamResponse("stream ended before [DONE]")
        }
        if let upstreamFailure {
            logger.warning(
                "upstream stream failed", metadata: ["request.id": .string(draft.requestID), "error": .string(upstreamFailure.message)])
            var event = ByteBuffer(string: "data: ")
            var json = upstreamFailure.jsonBody
            event.writeBuffer(&json)
            event.writeString("\n\n")
            try? await writer.write(event)
            sink.record(
                draft.finish(
                    status: Int(upstreamFailure.status.code), firstByteAt: firstByteAt, usage: usage, provider: provider,
                    error: upstreamFailure.message))
        } else {
            sink.record(draft.finish(status: 200, firstByteAt: firstByteAt, usage: usage, provider: provider))
        }
        try await writer.finish(nil)
    }

    /// Calls `body` with the JSON payload of one `data:` event (from its first `{` to its last `}`).
    private static func withEventData<Result>(_ event: ByteBuffer, _ body: (UnsafeRawBufferPointer) -> Result) -> Result? {
        event.withUnsafeReadableBytes { bytes -> Result? in
            guard let start = bytes.firstIndex(of: UInt8(ascii: "{")), let end = bytes.lastIndex(of: UInt8(ascii: "}")), start < end
            else { return nil }
            return body(UnsafeRawBufferPointer(rebasing: bytes[start...end]))
        }
    }
}
