import Foundation
import NIOCore
import NIOHTTP1

/// Reads one HTTP/1.1 answer at a time from an upstream connection's bytes as they arrive: the
/// head, then the body as slices of the bytes read (never copied), then its end. Bodies framed by
/// `Content-Length`, by `Transfer-Encoding: chunked` (extensions and trailers skipped) or by the
/// connection's close; none after `HEAD`, 204 or 304; interim 1xx heads skipped. Each byte is
/// looked at once, except a line split between two reads, which is read again whole.
///
/// It stands where NIO's `HTTPResponseDecoder` stood: a decoder behind `ByteToMessageHandler`
/// cost about 2,000 instructions per streamed event beyond the parsing itself (generic handler
/// code, callbacks, each part boxed into `NIOAny` and cast back). It is strict where llhttp is: a
/// malformed line, both `Content-Length` and `Transfer-Encoding`, two lengths, or a head over
/// `maxHeadBytes` is a `Failure`, and the connection is not used again.
struct UpstreamResponseParser {
    enum Part {
        /// `keepAlive`: the upstream allows another request on this connection after this answer.
        case head(status: Int, headers: HTTPHeaders, keepAlive: Bool)
        case body(ByteBuffer)
        case end
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// The status line and header fields of one answer, as NIO's decoder allowed by default.
    static let maxHeadBytes = 80 * 1024
    /// A chunk's size line with its extensions, or one trailer field.
    static let maxLineBytes = 8 * 1024

    private enum State {
        /// No request waits for an answer: bytes here are out of step.
        case idle
        case head
        case fixedBody(remaining: Int)
        case chunkSize
        case chunkData(remaining: Int)
        /// The line end behind a chunk's data.
        case chunkDataEnd
        case trailers
        case untilClose
        case failed
    }

    private var state = State.idle
    private var answersHEAD = false
    /// Bytes of a head or a line that did not end in the read they came in; `scanned` of them had no line end.
    private var pending: ByteBuffer?
    private var scanned = 0

    /// The next answer is to a request of `method` (a `HEAD` answer has no body).
    mutating func expectResponse(to method: HTTPMethod) {
        state = .head
        answersHEAD = method == .HEAD
        pending = nil
        scanned = 0
    }

    /// The next part found in `buffer` (consuming what it read), or nil when it needs more bytes.
    mutating func next(from buffer: inout ByteBuffer) throws(Failure) -> Part? {
        while true {
            switch state {
            case .idle:
                guard buffer.readableBytes == 0 else { throw fail("bytes from the upstream after its answer ended") }
                return nil
            case .failed:
                throw Failure(description: "the answer was malformed")
            case .head:
                guard let head = try readHead(from: &buffer) else { return nil }
                if let head { return head }
            case .fixedBody(let remaining):
                if remaining == 0 {
                    state = .idle
                    return .end
                }
                guard buffer.readableBytes > 0 else { return nil }
                let length = min(remaining, buffer.readableBytes)
                state = .fixedBody(remaining: remaining - length)
                return .body(buffer.readSlice(length: length)!)
            case .chunkSize:
                guard let size = try readLine(from: &buffer, limit: Self.maxLineBytes, parse: Self.chunkSize(_:)) else { return nil }
                state = size == 0 ? .trailers : .chunkData(remaining: size)
            case .chunkData(let remaining):
                guard buffer.readableBytes > 0 else { return nil }
                let length = min(remaining, buffer.readableBytes)
                let slice = buffer.readSlice(length: length)!
                state = length == remaining ? .chunkDataEnd : .chunkData(remaining: remaining - length)
                return .body(slice)
            case .chunkDataEnd:
                guard let isEmpty = try readLine(from: &buffer, limit: 2, parse: { $0.isEmpty }) else { return nil }
                guard isEmpty else { throw fail("no line end after a chunk") }
                state = .chunkSize
            case .trailers:
                guard let isLast = try readLine(from: &buffer, limit: Self.maxLineBytes, parse: { $0.isEmpty }) else { return nil }
                if isLast {
                    state = .idle
                    return .end
                }
            case .untilClose:
                guard buffer.readableBytes > 0 else { return nil }
                return .body(buffer.readSlice(length: buffer.readableBytes)!)
            }
        }
    }

    /// The connection's input ended. True when that ends the answer (a body read until the close);
    /// false when an answer was under way or none was asked for.
    mutating func inputEnded() -> Bool {
        defer { state = .failed }
        if case .untilClose = state { return true }
        return false
    }

    // MARK: Heads

    /// nil: more bytes needed; `.some(nil)`: an interim 1xx head, skipped.
    private mutating func readHead(from buffer: inout ByteBuffer) throws(Failure) -> Part?? {
        takePending(into: &buffer)
        let found: (length: Int, part: Part?)?? = try buffer.withUnsafeReadableBytes { bytes throws(Failure) in
            guard let end = bytes.endOfBlankLine(from: scanned) else { return nil }
            return .some(try parseHead(UnsafeRawBufferPointer(rebasing: bytes[..<end])).map { (end, $0) })
        }
        guard let found else {
            guard buffer.readableBytes <= Self.maxHeadBytes else { throw fail("the answer's head is over \(Self.maxHeadBytes) bytes") }
            // Keep the last three bytes unscanned: "\r\n\r" of a head end split between reads.
            keepPending(&buffer, scanned: max(0, buffer.readableBytes - 3))
            return nil
        }
        guard let (length, part) = found else { throw fail("the answer's head is malformed") }
        guard length <= Self.maxHeadBytes else { throw fail("the answer's head is over \(Self.maxHeadBytes) bytes") }
        buffer.moveReaderIndex(forwardBy: length)
        return .some(part)
    }

    /// The head's part and framing; nil for a malformed head. Sets the body's state.
    private mutating func parseHead(_ head: UnsafeRawBufferPointer) throws(Failure) -> Part?? {
        var lines = HeadLines(bytes: head)
        guard let statusLine = lines.next(), let (minorVersion, status) = Self.statusLine(statusLine) else { return nil }
        var fields: [(String, String)] = []
        var contentLength: Int?
        var chunked = false
        var transferEncoding = false
        var connectionClose = false
        var connectionKeepAlive = false
        while let line = lines.next(), !line.isEmpty {
            guard let (name, value) = Self.field(line) else { return nil }
            if name.equalsIgnoringCase("content-length") {
                guard contentLength == nil, let length = Self.decimal(value) else {
                    throw fail(contentLength == nil ? "the answer's Content-Length is not a number" : "the answer has two Content-Length fields")
                }
                contentLength = length
            } else if name.equalsIgnoringCase("transfer-encoding") {
                transferEncoding = true
                chunked = Self.lastToken(of: value, is: "chunked")
            } else if name.equalsIgnoringCase("connection") {
                Self.forEachToken(of: value) { token in
                    if token.equalsIgnoringCase("close") { connectionClose = true }
                    if token.equalsIgnoringCase("keep-alive") { connectionKeepAlive = true }
                }
            }
            fields.append((String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self)))
        }
        if (100..<200).contains(status) {
            guard status != 101 else { throw fail("the upstream switched protocols") }
            return .some(nil)  // interim: the real head follows
        }
        if transferEncoding && contentLength != nil { throw fail("the answer has both Content-Length and Transfer-Encoding") }
        var keepAlive = minorVersion == 1 ? !connectionClose : connectionKeepAlive && !connectionClose
        if answersHEAD || status == 204 || status == 304 {
            state = .fixedBody(remaining: 0)  // the head, then its end
        } else if chunked {
            state = .chunkSize
        } else if let contentLength, !transferEncoding {
            state = .fixedBody(remaining: contentLength)
        } else {
            state = .untilClose
            keepAlive = false
        }
        return .some(.head(status: status, headers: HTTPHeaders(fields), keepAlive: keepAlive))
    }

    // MARK: Lines

    /// One line (without its CR LF or LF) given to `parse`, or nil when it has not ended yet. A line
    /// `parse` refuses (nil), or one longer than `limit`, fails the answer.
    private mutating func readLine<Value>(
        from buffer: inout ByteBuffer, limit: Int, parse: (UnsafeRawBufferPointer) -> Value?
    ) throws(Failure) -> Value? {
        takePending(into: &buffer)
        let found: (length: Int, value: Value?)? = buffer.withUnsafeReadableBytes { bytes in
            guard let newline = bytes.firstOffset(of: "\n", from: scanned) else { return nil }
            return (newline + 1, parse(Self.withoutCarriageReturn(UnsafeRawBufferPointer(rebasing: bytes[..<newline]))))
        }
        guard let found else {
            guard buffer.readableBytes <= limit + 1 else { throw fail("a line of the answer is over \(limit) bytes") }
            keepPending(&buffer, scanned: buffer.readableBytes)
            return nil
        }
        guard let value = found.value else { throw fail("a line of the answer is malformed") }
        buffer.moveReaderIndex(forwardBy: found.length)
        return value
    }

    private mutating func takePending(into buffer: inout ByteBuffer) {
        guard var pending else {
            scanned = 0
            return
        }
        self.pending = nil
        pending.writeBuffer(&buffer)
        buffer = pending
    }

    private mutating func keepPending(_ buffer: inout ByteBuffer, scanned: Int) {
        guard buffer.readableBytes > 0 else { return }  // nothing begun: nothing to keep
        pending = buffer
        self.scanned = scanned
        buffer.moveReaderIndex(to: buffer.writerIndex)
    }

    private mutating func fail(_ description: String) -> Failure {
        state = .failed
        pending = nil
        return Failure(description: description)
    }

    private static func withoutCarriageReturn(_ line: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        guard let last = line.last, last == UInt8(ascii: "\r") else { return line }
        return UnsafeRawBufferPointer(rebasing: line.dropLast())
    }

    /// The lines of a head, without their line ends.
    private struct HeadLines {
        let bytes: UnsafeRawBufferPointer
        var start = 0

        mutating func next() -> UnsafeRawBufferPointer? {
            guard start < bytes.count else { return nil }
            let end = bytes.firstOffset(of: "\n", from: start) ?? bytes.count
            defer { start = end + 1 }
            return UpstreamResponseParser.withoutCarriageReturn(UnsafeRawBufferPointer(rebasing: bytes[start..<end]))
        }
    }

    /// `HTTP/1.x SSS reason` (the reason may be missing): the minor version and the status.
    private static func statusLine(_ line: UnsafeRawBufferPointer) -> (Int, Int)? {
        guard line.count >= 12, startsWith(line, "HTTP/1."), line[7] == UInt8(ascii: "0") || line[7] == UInt8(ascii: "1"),
            line[8] == UInt8(ascii: " "), line.count == 12 || line[12] == UInt8(ascii: " "),
            let status = decimal(UnsafeRawBufferPointer(rebasing: line[9..<12])),
            !line[12...].contains(where: isControl)
        else { return nil }
        return (Int(line[7] - UInt8(ascii: "0")), status)
    }

    /// `name: value`, the value without the blanks around it; nil for a folded line, a name that is
    /// not a token or a control character in the value.
    private static func field(_ line: UnsafeRawBufferPointer) -> (UnsafeRawBufferPointer, UnsafeRawBufferPointer)? {
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")), colon > 0, line[..<colon].allSatisfy(isTokenByte) else { return nil }
        var start = colon + 1
        var end = line.count
        while start < end, isBlank(line[start]) { start += 1 }
        while end > start, isBlank(line[end - 1]) { end -= 1 }
        let value = UnsafeRawBufferPointer(rebasing: line[start..<end])
        guard !value.contains(where: isControl) else { return nil }
        return (UnsafeRawBufferPointer(rebasing: line[..<colon]), value)
    }

    /// Hex digits, then optionally blanks and `;` extensions (ignored).
    private static func chunkSize(_ line: UnsafeRawBufferPointer) -> Int? {
        var size = 0
        var digits = 0
        for byte in line {
            guard let digit = hexValue(byte) else {
                guard digits > 0, byte == UInt8(ascii: ";") || isBlank(byte) else { return nil }
                let rest = line[(digits)...].drop(while: isBlank)
                guard rest.isEmpty || rest.first == UInt8(ascii: ";"), !rest.contains(where: isControl) else { return nil }
                return size
            }
            guard digits < 15 else { return nil }
            size = size << 4 | digit
            digits += 1
        }
        return digits > 0 ? size : nil
    }

    private static func decimal(_ bytes: UnsafeRawBufferPointer) -> Int? {
        guard !bytes.isEmpty, bytes.count <= 18 else { return nil }
        var value = 0
        for byte in bytes {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            value = value * 10 + Int(byte - UInt8(ascii: "0"))
        }
        return value
    }

    private static func hexValue(_ byte: UInt8) -> Int? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): Int(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): Int(byte - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): Int(byte - UInt8(ascii: "A") + 10)
        default: nil
        }
    }

    /// Calls `body` with each comma-separated token of a field's value, without blanks.
    private static func forEachToken(of value: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) -> Void) {
        var start = 0
        while start <= value.count {
            let comma = value[start...].firstIndex(of: UInt8(ascii: ",")) ?? value.count
            var first = start
            var end = comma
            while first < end, isBlank(value[first]) { first += 1 }
            while end > first, isBlank(value[end - 1]) { end -= 1 }
            if end > first { body(UnsafeRawBufferPointer(rebasing: value[first..<end])) }
            start = comma + 1
        }
    }

    private static func lastToken(of value: UnsafeRawBufferPointer, is expected: StaticString) -> Bool {
        var isExpected = false
        forEachToken(of: value) { isExpected = $0.equalsIgnoringCase(expected) }
        return isExpected
    }

    private static func startsWith(_ bytes: UnsafeRawBufferPointer, _ prefix: StaticString) -> Bool {
        bytes.count >= prefix.utf8CodeUnitCount && memcmp(bytes.baseAddress!, prefix.utf8Start, prefix.utf8CodeUnitCount) == 0
    }

    private static func isBlank(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t")
    }

    /// Control characters other than a tab.
    private static func isControl(_ byte: UInt8) -> Bool {
        (byte < 0x20 && byte != UInt8(ascii: "\t")) || byte == 0x7F
    }

    /// RFC 9110's `tchar`.
    private static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"): true
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"), UInt8(ascii: "'"),
            UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "^"), UInt8(ascii: "_"),
            UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
            true
        default: false
        }
    }
}
