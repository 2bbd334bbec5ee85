import AsyncHTTPClient
import HTTPTypes
import NIOCore
import SwitchyardCore
import Synchronization

/// The API an upstream request is for.
package enum Endpoint: String, Sendable {
    case chatCompletions = "chat/completions"
    case embeddings
}

/// One request on its way to a backend, with the body already rewritten for that backend.
package struct UpstreamRequest: Sendable {
    package var endpoint: Endpoint
    package var body: [String: JSONValue]
    package var stream: Bool
    package var requestID: String
    /// Client headers from the allow-list, passed on as they came.
    package var forwardedHeaders: [(String, String)]

    package init(endpoint: Endpoint, body: [String: JSONValue], stream: Bool, requestID: String, forwardedHeaders: [(String, String)]) {
        self.endpoint = endpoint
        self.body = body
        self.stream = stream
        self.requestID = requestID
        self.forwardedHeaders = forwardedHeaders
    }
}

/// The head of an upstream's answer and a way to read its body as it arrives.
package struct UpstreamResponse: Sendable {
    package var status: Int
    package var contentType: String?
    package var contentLength: Int?
    /// The `Retry-After` header of a 429 or 503.
    package var retryAfter: String? = nil
    package var body: UpstreamBody
}

/// An upstream body read chunk by chunk, from the network or from the built-in mock.
package enum UpstreamBody: Sendable, AsyncSequence {
    case network(HTTPClientResponse.Body)
    case generated(AsyncThrowingStream<ByteBuffer, any Error>)

    package typealias Element = ByteBuffer

    package struct AsyncIterator: AsyncIteratorProtocol {
        fileprivate enum Source {
            case network(HTTPClientResponse.Body.AsyncIterator)
            case generated(AsyncThrowingStream<ByteBuffer, any Error>.AsyncIterator)
        }

        fileprivate var source: Source

        package mutating func next() async throws -> ByteBuffer? {
            switch source {
            case .network(var iterator):
                defer { source = .network(iterator) }
                return try await iterator.next()
            case .generated(var iterator):
                defer { source = .generated(iterator) }
                return try await iterator.next()
            }
        }
    }

    package func makeAsyncIterator() -> AsyncIterator {
        switch self {
        case .network(let body): return AsyncIterator(source: .network(body.makeAsyncIterator()))
        case .generated(let stream): return AsyncIterator(source: .generated(stream.makeAsyncIterator()))
        }
    }

    /// Reads the whole body, failing past `limit` bytes. Only for answers that are not streams.
    package func collect(upTo limit: Int) async throws -> ByteBuffer {
        var result = ByteBuffer()
        for try await chunk in self {
            guard result.readableBytes + chunk.readableBytes <= limit else { throw NIOTooManyBytesError(maxBytes: limit) }
            var chunk = chunk
            result.writeBuffer(&chunk)
        }
        return result
    }
}

/// Something that can answer upstream requests for a backend: a real provider or the mock.
package protocol ProviderAdapter: Sendable {
    func send(_ request: UpstreamRequest, to backend: EffectiveConfiguration.Backend, settings: GatewaySettings) async throws
        -> UpstreamResponse
}

/// What a relayed stream yields: the upstream's bytes, or a note that it has been quiet for a while.
package enum StreamItem: Sendable {
    case chunk(ByteBuffer)
    case quiet
}

extension UpstreamBody {
    /// The body as stream items: `.quiet` after each `keepAlive` seconds without a chunk, and a
    /// timeout error after `idleTimeout` seconds without one.
    ///
    /// The HTTP client's read timeout also covers the wait for the response head, so it cannot be
    /// shorter than the first-byte timeout; this watches the silence between a stream's chunks.
    package func events(idleTimeout: Double, keepAlive: Double) -> AsyncThrowingStream<StreamItem, any Error> {
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: StreamItem.self, throwing: (any Error).self)
        let source = self
        let idleLimit = Duration.milliseconds(Int64(idleTimeout * 1000))
        let keepAliveEvery = Duration.milliseconds(Int64(Swift.max(keepAlive, 0.001) * 1000))
        let task = Task {
            let lastChunkAt = LastChunkClock()
            do {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        for try await chunk in source {
                            lastChunkAt.touch()
                            continuation.yield(.chunk(chunk))
                        }
                    }
                    group.addTask {
                        var lastNote = ContinuousClock.now
                        while true {
                            let last = lastChunkAt.last
                            let now = ContinuousClock.now
                            if now >= last + idleLimit {
                                throw GatewayError(
                                    status: .gatewayTimeout, message: "Upstream sent nothing for \(idleTimeout) s.", type: "upstream_error",
                                    code: "upstream_timeout")
                            }
                            let quietSince = Swift.max(last, lastNote)
                            if now >= quietSince + keepAliveEvery {
                                continuation.yield(.quiet)
                                lastNote = now
                            }
                            try await Task.sleep(until: Swift.min(last + idleLimit, Swift.max(last, lastNote) + keepAliveEvery))
                        }
                    }
                    try await group.next()
                    group.cancelAll()
                }
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }
}

/// When the last chunk of a body arrived, shared between its reader and its watchdog.
private final class LastChunkClock: Sendable {
    private let instant = Mutex(ContinuousClock.now)

    var last: ContinuousClock.Instant { instant.withLock { $0 } }

    func touch() {
        instant.withLock { $0 = .now }
    }
}
