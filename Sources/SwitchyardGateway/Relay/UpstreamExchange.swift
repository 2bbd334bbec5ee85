import AsyncHTTPClient
import NIOCore
import SwitchyardCore

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
