import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

@testable import SwitchyardGateway

/// The gateway's response encoder frames answers as NIO's `HTTPResponseEncoder` does, byte for byte.
@Suite struct ServerResponseEncoderTests {
    typealias Response = (head: HTTPResponseHead, body: [String], trailers: HTTPHeaders?)

    /// The bytes `encoder` writes for `response`, each write apart.
    static func written(by encoder: some ChannelOutboundHandler, _ response: Response) throws -> [String] {
        let channel = EmbeddedChannel(handler: encoder)
        try channel.writeOutbound(HTTPServerResponsePart.head(response.head))
        for part in response.body { try channel.writeOutbound(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(string: part)))) }
        try channel.writeOutbound(HTTPServerResponsePart.end(response.trailers))
        var writes: [String] = []
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) { writes.append(String(buffer: buffer)) }
        _ = try channel.finish()
        return writes
    }

    static func head(_ headers: [(String, String)], version: HTTPVersion = .http1_1) -> HTTPResponseHead {
        HTTPResponseHead(version: version, status: .ok, headers: HTTPHeaders(headers))
    }

    static let cases: [Response] = [
        (head([("Content-Type", "application/json"), ("Content-Length", "2"), ("x-request-id", "r1")]), ["{}"], nil),
        (head([("content-type", "text/event-stream"), ("cache-control", "no-cache")]), ["data: 1\n\n", "", "data: [DONE]\n\n"], nil),
        (head([("Transfer-Encoding", "gzip"), ("X-A", "b")]), ["zz"], HTTPHeaders([("x-checksum", "1")])),
        (head([("content-length", "5"), ("transfer-encoding", "chunked")]), ["hello"], nil),
        (head([("content-length", "0")]).with(status: .noContent), [], nil),
        (head([("content-length", "9"), ("transfer-encoding", "chunked")]).with(status: .notModified), [], nil),
        (head([("content-type", "text/plain")], version: .http1_0), ["close-delimited"], nil),
        (head([("Content-Length", "3")], version: .http1_0), ["abc"], nil),
        (head([("x-custom", "é ü")]).with(status: .custom(code: 299, reasonPhrase: "Odd")), ["x"], nil),
        (head([]).with(status: .badRequest), ["{\"error\":{}}"], nil),
        // Chunk sizes of one to five hex digits, below and above the size copied into one write.
        (head([]), ["a", String(repeating: "b", count: 255), String(repeating: "c", count: 4_096), String(repeating: "d", count: 70_000)], nil),
    ]

    @Test(arguments: cases.indices) func framesAsNIOsEncoderDoes(_ index: Int) throws {
        let response = Self.cases[index]
        let ours = try Self.written(by: ServerResponseEncoder(), response)
        let nio = try Self.written(by: HTTPResponseEncoder(), response)
        #expect(ours.joined() == nio.joined())
    }

    @Test func theAnswerToAHeadRequestKeepsItsFramingAndSendsNoBody() throws {
        let encoder = ServerResponseEncoder()
        let channel = EmbeddedChannel(handler: encoder)
        encoder.requestArrived(method: .HEAD)
        encoder.requestArrived(method: .GET)
        try channel.writeOutbound(HTTPServerResponsePart.head(Self.head([("content-length", "12")])))
        #expect(throws: NIOHTTPResponseEncoderError.responseBodyNotAllowed) {
            try channel.writeOutbound(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(string: "not allowed"))))
        }
        try channel.writeOutbound(HTTPServerResponsePart.end(nil))
        // The next answer, to the GET, has its body again, chunked as it has no length.
        try channel.writeOutbound(HTTPServerResponsePart.head(Self.head([])))
        try channel.writeOutbound(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(string: "hi"))))
        try channel.writeOutbound(HTTPServerResponsePart.end(nil))
        var writes: [String] = []
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) { writes.append(String(buffer: buffer)) }
        #expect(
            writes.joined()
                == "HTTP/1.1 200 OK\r\ncontent-length: 12\r\n\r\n" + "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n")
        _ = try channel.finish()
    }
}

extension ServerResponseEncoderTests {
    /// A whole answer written in one buffer is, byte for byte, what NIO's encoder writes for its head,
    /// body and end; and the answer to a `HEAD` request keeps its length and drops its body.
    @Test(arguments: [HTTPVersion.http1_1, .http1_0], [HTTPResponseStatus.ok, .tooManyRequests, .custom(code: 299, reasonPhrase: "Odd")])
    func aWholeAnswerInOneBufferIsWhatNIOsEncoderWrites(version: HTTPVersion, status: HTTPResponseStatus) throws {
        let body = #"{"id":"c1","choices":[]}"#
        let fields = [("x-switchyard-version", "v1"), ("Content-Type", "application/json"), ("content-length", "\(body.utf8.count)")]
        let encoder = ServerResponseEncoder()
        let channel = EmbeddedChannel(handler: encoder)
        encoder.requestArrived(method: .POST)
        encoder.requestArrived(method: .HEAD)
        for _ in 0..<2 {
            encoder.writeWhole(version: version, status: status, fields: fields, body: ByteBuffer(string: body), promise: nil)
        }
        channel.flush()
        var writes: [String] = []
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) { writes.append(String(buffer: buffer)) }
        _ = try channel.finish()
        let head = HTTPResponseHead(version: version, status: status, headers: HTTPHeaders(fields))
        let nio = try Self.written(by: HTTPResponseEncoder(), (head, [body], nil)).joined()
        #expect(writes == [nio, String(nio.dropLast(body.utf8.count))])
    }
}

extension HTTPResponseHead {
    fileprivate func with(status: HTTPResponseStatus) -> HTTPResponseHead {
        var head = self
        head.status = status
        return head
    }
}
