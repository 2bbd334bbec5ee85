import NIOCore
import NIOHTTP1

/// Writes responses (the client API's and Hummingbird's) as HTTP/1 bytes, framed as NIO's
/// `HTTPResponseEncoder` frames them: a body without `content-length` in HTTP/1.1 is sent chunked;
/// `content-length` and `transfer-encoding` are left out of a response that has no body (1xx, 204,
/// 304, an answer to `CONNECT`); an answer to `HEAD` keeps its framing headers but sends no body.
/// It writes the head in one pass without changing it (NIO's encoder edited the head's headers,
/// which copied them, then wrote each with checked `ByteBuffer` calls), and a small chunk with its
/// framing in one write.
final class ServerResponseEncoder: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = IOData

    /// Methods of the requests still to be answered, oldest first.
    private var requestMethods = CircularBuffer<HTTPMethod>(initialCapacity: 2)
    private var isChunked = false
    private var suppressesBody = false
    private var context: ChannelHandlerContext?

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    /// A request's head arrived; its answer is written after those of the requests before it.
    func requestArrived(method: HTTPMethod) {
        requestMethods.append(method)
    }

    /// A whole answer whose `fields` carry its `content-length` (the client API's): the head and the
    /// body copied into one buffer and written at once, instead of a head, a body and an end passed
    /// down the pipeline one by one. Not flushed. An answer that may have no body takes the parts' way.
    func writeWhole(
        version: HTTPVersion, status: HTTPResponseStatus, fields: [(String, String)], body: ByteBuffer, promise: EventLoopPromise<Void>?
    ) {
        guard let context else {
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        let method = requestMethods.popFirst()
        assert(status.mayHaveResponseBody && method != .CONNECT, "a whole answer has a body")
        let bytes = HTTPHeadBytes.encode(
            startLine: Self.statusLine(version, status), fields: fields, body: method == .HEAD ? nil : body,
            allocator: context.channel.allocator)
        context.write(wrapOutboundOut(.byteBuffer(bytes)), promise: promise)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(let head):
            let code = head.status.code
            var method: HTTPMethod?
            // A 1xx other than 101 is followed by the final answer to the same request.
            if !((100..<200).contains(code) && code != 101) { method = requestMethods.popFirst() }
            suppressesBody = method == .HEAD || method == .CONNECT
            let framing = Framing(head, hasBody: method != .CONNECT && head.status.mayHaveResponseBody)
            isChunked = framing.addsChunked && !suppressesBody
            context.write(wrapOutboundOut(.byteBuffer(Self.encode(head, framing: framing, allocator: context.channel.allocator))), promise: promise)
        case .body(let part):
            writeBody(part, context: context, promise: promise)
        case .end(let trailers):
            suppressesBody = false
            if isChunked {
                var last = context.channel.allocator.buffer(capacity: 8)
                last.writeStaticString("0\r\n")
                for (name, value) in trailers ?? [:] {
                    last.writeString(name)
                    last.writeStaticString(": ")
                    last.writeString(value)
                    last.writeStaticString("\r\n")
                }
                last.writeStaticString("\r\n")
                context.write(wrapOutboundOut(.byteBuffer(last)), promise: promise)
            } else if let promise {
                // Nothing to write, but the promise must complete in order with the writes before it.
                context.write(wrapOutboundOut(.byteBuffer(ByteBuffer())), promise: promise)
            }
        }
    }

    /// A part of the current answer's body, handed over directly rather than down the pipeline (no
    /// `HTTPServerResponsePart` boxed and cast back per stream event). Not flushed.
    func writeBody(_ part: IOData, promise: EventLoopPromise<Void>?) {
        guard let context else {
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        writeBody(part, context: context, promise: promise)
    }

    private func writeBody(_ part: IOData, context: ChannelHandlerContext, promise: EventLoopPromise<Void>?) {
        if suppressesBody {
            promise?.fail(NIOHTTPResponseEncoderError.responseBodyNotAllowed)
        } else if isChunked && part.readableBytes > 0 {
            if case .byteBuffer(let bytes) = part, bytes.readableBytes <= Self.copiedChunkLimit {
                // A small chunk (a stream's event) is copied into its framing: one write, not three.
                var chunk = context.channel.allocator.buffer(capacity: bytes.readableBytes + 20)
                Self.writeChunkSize(bytes.readableBytes, into: &chunk)
                chunk.writeImmutableBuffer(bytes)
                chunk.writeStaticString("\r\n")
                context.write(wrapOutboundOut(.byteBuffer(chunk)), promise: promise)
            } else {
                var size = context.channel.allocator.buffer(capacity: 20)
                Self.writeChunkSize(part.readableBytes, into: &size)
                context.write(wrapOutboundOut(.byteBuffer(size)), promise: nil)
                context.write(wrapOutboundOut(part), promise: nil)
                context.write(wrapOutboundOut(.byteBuffer(Self.lineEnd)), promise: promise)
            }
        } else {
            context.write(wrapOutboundOut(part), promise: promise)
        }
    }

    private static let lineEnd = ByteBuffer(string: "\r\n")
    /// Chunks up to this size are copied into one buffer with their framing.
    private static let copiedChunkLimit = 16 * 1024

    private static let hexDigits = Array("0123456789abcdef".utf8)

    /// The chunk-size line: the size in lower-case hex, then CRLF.
    private static func writeChunkSize(_ size: Int, into buffer: inout ByteBuffer) {
        var shift = max(0, (Int.bitWidth - size.leadingZeroBitCount - 1) / 4 * 4)
        while true {
            buffer.writeInteger(hexDigits[(size >> shift) & 0xF])
            if shift == 0 { break }
            shift -= 4
        }
        buffer.writeStaticString("\r\n")
    }

    /// How a response's body is delimited, decided from its head without editing it (as NIO's
    /// encoder does with `automaticallySetFramingHeaders`).
    struct Framing {
        /// Leave out the head's `content-length` fields; its `transfer-encoding` fields.
        var dropsContentLength = false
        var dropsTransferEncoding = false
        /// Add `transfer-encoding: chunked` and send the body in chunks.
        var addsChunked = false

        init(_ head: HTTPResponseHead, hasBody: Bool) {
            if !hasBody {
                dropsContentLength = true
                dropsTransferEncoding = true
            } else if head.headers.contains(where: { HTTPHeadBytes.isField($0.name, "content-length") }) {
                dropsTransferEncoding = true
            } else if head.version.major == 1 && head.version.minor >= 1 {
                dropsTransferEncoding = true
                addsChunked = true
            }
            // HTTP/1.0 without a length: the body ends when the connection closes; the head stays as it is.
        }
    }

    /// The status line and the header fields as the framing leaves them, sized first and copied in one pass.
    static func encode(_ head: HTTPResponseHead, framing: Framing, allocator: ByteBufferAllocator) -> ByteBuffer {
        var fields: [(String, String)] = []
        fields.reserveCapacity(head.headers.count + 1)
        for (name, value) in head.headers {
            if framing.dropsContentLength && HTTPHeadBytes.isField(name, "content-length") { continue }
            if framing.dropsTransferEncoding && HTTPHeadBytes.isField(name, "transfer-encoding") { continue }
            fields.append((name, value))
        }
        if framing.addsChunked { fields.append(("transfer-encoding", "chunked")) }
        return HTTPHeadBytes.encode(startLine: statusLine(head.version, head.status), fields: fields, allocator: allocator)
    }

    /// The status line's three pieces: `HTTP/1.x `, the code, ` reason`.
    private static func statusLine(_ version: HTTPVersion, _ status: HTTPResponseStatus) -> (String, String, String) {
        (version.major == 1 && version.minor == 0 ? "HTTP/1.0 " : "HTTP/1.1 ", String(status.code), " " + status.reasonPhrase)
    }
}

/// An HTTP/1 head on the wire: the start line in three pieces, each field as `name: value`, each line
/// ended by CRLF and the head by an empty line, then `body` if one is given. Sized first, then copied
/// in one pass (ByteBuffer's `writeString` checks capacity and uniqueness on every call). Names and
/// values are written as they are: they were checked where they came from.
enum HTTPHeadBytes {
    static func encode(
        startLine: (String, String, String), fields: [(String, String)], body: ByteBuffer? = nil, allocator: ByteBufferAllocator
    ) -> ByteBuffer {
        var size = startLine.0.utf8.count + startLine.1.utf8.count + startLine.2.utf8.count + 4 + (body?.readableBytes ?? 0)
        for (name, value) in fields { size += name.utf8.count + value.utf8.count + 4 }
        var buffer = allocator.buffer(capacity: size)
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: size) { out in
            // A cursor passed `inout` rather than a counter the helpers capture: a captured variable is
            // checked for exclusive access at run time on every use.
            var cursor = out.baseAddress!
            put(startLine.0, at: &cursor)
            put(startLine.1, at: &cursor)
            put(startLine.2, at: &cursor)
            put(UInt8(ascii: "\r"), UInt8(ascii: "\n"), at: &cursor)
            for (name, value) in fields {
                put(name, at: &cursor)
                put(UInt8(ascii: ":"), UInt8(ascii: " "), at: &cursor)
                put(value, at: &cursor)
                put(UInt8(ascii: "\r"), UInt8(ascii: "\n"), at: &cursor)
            }
            put(UInt8(ascii: "\r"), UInt8(ascii: "\n"), at: &cursor)
            body?.withUnsafeReadableBytes { bytes in
                guard let start = bytes.baseAddress else { return }
                cursor.copyMemory(from: start, byteCount: bytes.count)
                cursor += bytes.count
            }
            return out.baseAddress!.distance(to: cursor)
        }
        return buffer
    }

    /// Whether a header name is `lowercased` in any case.
    static func isField(_ name: String, _ lowercased: StaticString) -> Bool {
        name.utf8.withContiguousStorageIfAvailable { UnsafeRawBufferPointer($0).equalsIgnoringCase(lowercased) }
            ?? Array(name.utf8).withUnsafeBytes { $0.equalsIgnoringCase(lowercased) }
    }

    private static func put(_ text: String, at cursor: inout UnsafeMutableRawPointer) {
        var text = text
        text.withUTF8 { bytes in
            guard let start = bytes.baseAddress else { return }
            cursor.copyMemory(from: start, byteCount: bytes.count)
            cursor += bytes.count
        }
    }

    private static func put(_ first: UInt8, _ second: UInt8, at cursor: inout UnsafeMutableRawPointer) {
        cursor.storeBytes(of: first, as: UInt8.self)
        (cursor + 1).storeBytes(of: second, as: UInt8.self)
        cursor += 2
    }
}
