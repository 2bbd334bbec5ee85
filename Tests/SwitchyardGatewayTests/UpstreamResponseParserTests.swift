import Foundation
import NIOCore
import NIOEmbedded
import NIOHTTP1
import SwitchyardCore
import Testing

@testable import SwitchyardGateway

/// The upstream answer parser against NIO's own HTTP/1.1 response decoder (llhttp) on random
/// answers cut at random places: the same status, fields, keep-alive, body bytes and end, however
/// the bytes were chunked; and the malformed answers it must refuse. Rounds: `SWITCHYARD_FUZZ_ROUNDS`.
@Suite struct UpstreamResponseParserTests {
    static let rounds = ProcessInfo.processInfo.environment["SWITCHYARD_FUZZ_ROUNDS"].flatMap(Int.init) ?? 3_000

    struct Answer: Equatable, CustomStringConvertible {
        var status = 0
        var fields: [String] = []
        var keepAlive = false
        var body: [UInt8] = []
        var ends = 0

        var description: String { "\(status) \(fields) keepAlive=\(keepAlive) body=\(body.count) ends=\(ends)" }
    }

    /// NIO's decoder as the gateway used it before: told the method of each request.
    final class NIODecoder: ByteToMessageDecoder {
        typealias InboundOut = HTTPClientResponsePart
        let parser = HTTPResponseDecoder(leftOverBytesStrategy: .dropBytes)

        func expectResponse(to method: HTTPMethod) {
            parser.write(data: .head(HTTPRequestHead(version: .http1_1, method: method, uri: "")))
        }
        func decoderAdded(context: ChannelHandlerContext) { parser.decoderAdded(context: context) }
        func decoderRemoved(context: ChannelHandlerContext) { parser.decoderRemoved(context: context) }
        func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
            try parser.decode(context: context, buffer: &buffer)
        }
        func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
            try parser.decodeLast(context: context, buffer: &buffer, seenEOF: seenEOF)
        }
    }

    /// What NIO's decoder makes of `bytes` fed in `pieces`, then the connection's end; nil if it refused them.
    static func decodedByNIO(_ bytes: [UInt8], pieces: [Int], method: HTTPMethod) -> Answer? {
        let decoder = NIODecoder()
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(decoder))
        decoder.expectResponse(to: method)
        var answer = Answer()
        func collect() throws {
            while let part = try channel.readInbound(as: HTTPClientResponsePart.self) {
                switch part {
                case .head(let head):
                    answer.status = Int(head.status.code)
                    // llhttp keeps the blanks behind a value, which RFC 9110 says are not part of it.
                    answer.fields = head.headers.map { "\($0.name): \($0.value.trimmingCharacters(in: [" ", "\t"]))" }
                    answer.keepAlive = head.isKeepAlive
                case .body(let buffer): answer.body += buffer.readableBytesView
                case .end: answer.ends += 1
                }
            }
        }
        do {
            for piece in split(bytes, pieces) {
                try channel.writeInbound(ByteBuffer(bytes: piece))
                try collect()
            }
            if answer.ends == 0 { channel.pipeline.fireChannelInactive() }
            try collect()
            _ = try? channel.finish()
        } catch {
            return nil
        }
        return answer
    }

    /// What the gateway's parser makes of the same; nil if it refused them.
    static func parsed(_ bytes: [UInt8], pieces: [Int], method: HTTPMethod) -> Answer? {
        var parser = UpstreamResponseParser()
        parser.expectResponse(to: method)
        var answer = Answer()
        do {
            for piece in split(bytes, pieces) where answer.ends == 0 {
                var buffer = ByteBuffer(bytes: piece)
                while let part = try parser.next(from: &buffer) {
                    switch part {
                    case .head(let status, let headers, let keepAlive):
                        answer.status = status
                        answer.fields = headers.map { "\($0.name): \($0.value)" }
                        answer.keepAlive = keepAlive
                    case .body(let buffer): answer.body += buffer.readableBytesView
                    case .end: answer.ends += 1
                    }
                    if answer.ends > 0 { break }
                }
            }
            if answer.ends == 0, parser.inputEnded() { answer.ends += 1 }
        } catch {
            return nil
        }
        return answer
    }

    static func split(_ bytes: [UInt8], _ pieces: [Int]) -> [ArraySlice<UInt8>] {
        var result: [ArraySlice<UInt8>] = []
        var offset = 0
        for size in pieces + [bytes.count] where offset < bytes.count {
            result.append(bytes[offset..<min(bytes.count, offset + max(1, size))])
            offset += max(1, size)
        }
        return result
    }

    enum Framing: CaseIterable { case length, chunked, untilClose }

    /// A random answer: maybe an interim 100 first, random field names' case and blanks, a body framed
    /// by length, chunks (with extensions and trailers) or the close.
    static func randomAnswer(using random: inout SplitMix64) -> (bytes: [UInt8], method: HTTPMethod, framing: Framing) {
        let method: HTTPMethod = [.POST, .GET, .HEAD].randomElement(using: &random)!
        let minor = Int.random(in: 0..<5, using: &random) == 0 ? 0 : 1
        let status = [200, 200, 201, 204, 304, 400, 404, 429, 500, 502, 503].randomElement(using: &random)!
        // No HEAD without a length: the gateway sends none, and llhttp then calls the connection done.
        let framing = Framing.allCases.filter { method != .HEAD || $0 != .untilClose }.randomElement(using: &random)!
        let body = (0..<Int.random(in: 0...300, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
        var text = ""
        if minor == 1, Bool.random(using: &random) { text += "HTTP/1.1 100 Continue\r\n\r\n" }
        text += "HTTP/1.\(minor) \(status)" + (Bool.random(using: &random) ? " Some Reason" : "") + "\r\n"
        func blanks() -> String { ["", " ", "  ", "\t", " \t"].randomElement(using: &random)! }
        func field(_ name: String, _ value: String, blanksBehind: Bool = true) {
            let cased = String(name.map { Bool.random(using: &random) ? Character($0.uppercased()) : $0 })
            text += "\(cased):\(blanks())\(value)\(blanksBehind ? blanks() : "")\r\n"
        }
        field("content-type", ["application/json", "text/event-stream; charset=utf-8"].randomElement(using: &random)!)
        if Bool.random(using: &random) { field("x-request-id", "req-\(Int.random(in: 0...99999, using: &random))") }
        // (NIO reads `close` with blanks behind it as another token: the gateway does not.)
        switch Int.random(in: 0..<4, using: &random) {
        case 0: field("connection", "close", blanksBehind: false)
        case 1: field("connection", "keep-alive", blanksBehind: false)
        case 2: field("connection", "Keep-Alive, TE", blanksBehind: false)
        default: break
        }
        let bodiless = method == .HEAD || status == 204 || status == 304
        switch framing {
        // llhttp refuses a 204 or 304 that announces a body; after HEAD the length is the GET's.
        // (llhttp refuses blanks behind these two; the gateway takes them.)
        case .length: field("content-length", "\(status == 204 || status == 304 ? 0 : body.count)", blanksBehind: false)
        case .chunked: field("transfer-encoding", Bool.random(using: &random) ? "chunked" : "gzip, chunked", blanksBehind: false)
        case .untilClose: break
        }
        if Bool.random(using: &random) { field("date", "Sat, 05 Dec 2026 13:00:00 GMT") }
        text += "\r\n"
        var bytes = Array(text.utf8)
        guard !bodiless else { return (bytes, method, framing) }
        switch framing {
        case .length, .untilClose:
            bytes += body
        case .chunked:
            var offset = 0
            while offset < body.count {
                let size = min(body.count - offset, Int.random(in: 1...80, using: &random))
                let hex = String(size, radix: 16, uppercase: Bool.random(using: &random))
                let extensions = Bool.random(using: &random) ? "" : ";name=value"
                bytes += Array("\(hex)\(extensions)\r\n".utf8) + body[offset..<offset + size] + Array("\r\n".utf8)
                offset += size
            }
            bytes += Array("0\r\n".utf8)
            if Bool.random(using: &random) { bytes += Array("x-trailer: done\r\n".utf8) }
            bytes += Array("\r\n".utf8)
        }
        return (bytes, method, framing)
    }

    @Test func randomAnswersCutAnywhereParseAsNIOParsesThem() throws {
        var random = SplitMix64(seed: 0x5EED_0013)
        for _ in 0..<Self.rounds {
            let (bytes, method, framing) = Self.randomAnswer(using: &random)
            let pieces = (0..<8).map { _ in Int.random(in: 1...64, using: &random) }
            let expected = try #require(Self.decodedByNIO(bytes, pieces: [bytes.count], method: method), "\(String(decoding: bytes, as: UTF8.self))")
            var mine = try #require(Self.parsed(bytes, pieces: pieces, method: method), "\(String(decoding: bytes, as: UTF8.self))")
            // A body read until the close ends the connection, whatever the fields say.
            if framing == .untilClose, method != .HEAD, ![204, 304].contains(expected.status) {
                #expect(!mine.keepAlive)
                mine.keepAlive = expected.keepAlive
            }
            #expect(mine == expected, "\(String(decoding: bytes, as: UTF8.self))")
        }
    }

    @Test func oneAnswerFedAByteAtATimeOrWhole() throws {
        let answer = Array(
            "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n1c;x=y\r\ndata: {\"a\":1}\n\ndata: [DONE]\n\r\n0\r\ntrailer: t\r\n\r\n"
                .utf8)
        let whole = try #require(Self.parsed(answer, pieces: [answer.count], method: .POST))
        #expect(String(decoding: whole.body, as: UTF8.self) == "data: {\"a\":1}\n\ndata: [DONE]\n")
        #expect(whole.ends == 1 && whole.keepAlive && whole.status == 200)
        #expect(Self.parsed(answer, pieces: Array(repeating: 1, count: answer.count), method: .POST) == whole)
        // Bare line feeds, as llhttp also takes them.
        let bare = Array("HTTP/1.1 201 Created\ncontent-length: 2\n\nok".utf8)
        #expect(Self.parsed(bare, pieces: [3, 20], method: .POST)?.body == Array("ok".utf8))
    }

    @Test(arguments: [
        ("both framings", "HTTP/1.1 200 OK\r\ncontent-length: 2\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n"),
        ("two lengths", "HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-length: 2\r\n\r\nok"),
        ("a length that is not a number", "HTTP/1.1 200 OK\r\ncontent-length: 2x\r\n\r\nok"),
        ("a chunk size that is not hex", "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\nok\r\n0\r\n\r\n"),
        ("no line end after a chunk", "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nokX\r\n0\r\n\r\n"),
        ("a field without a colon", "HTTP/1.1 200 OK\r\ncontent-length 2\r\n\r\nok"),
        ("a folded field", "HTTP/1.1 200 OK\r\nx-a: 1\r\n  2\r\ncontent-length: 2\r\n\r\nok"),
        ("a blank before the colon", "HTTP/1.1 200 OK\r\ncontent-length : 2\r\n\r\nok"),
        ("a control byte in a value", "HTTP/1.1 200 OK\r\nx-a: 1\u{01}2\r\ncontent-length: 2\r\n\r\nok"),
        ("not HTTP/1", "HTTP/2 200 OK\r\ncontent-length: 2\r\n\r\nok"),
        ("a status of two digits", "HTTP/1.1 20 OK\r\ncontent-length: 2\r\n\r\nok"),
        ("switching protocols", "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n\r\n"),
        ("bytes behind the answer", "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n"),
    ])
    func malformedAnswersAreRefused(_ case: (String, String)) {
        let bytes = Array(`case`.1.utf8)
        // Stricter than NIO's decoder in two: the gateway never asks for an upgrade, and it sends no
        // second request before an answer ends.
        let refusedByNIO = Self.decodedByNIO(bytes, pieces: [bytes.count], method: .POST) == nil
        #expect(refusedByNIO || ["switching protocols", "bytes behind the answer"].contains(`case`.0), "\(`case`.0): NIO")
        for pieces in [[bytes.count], [7, 3, 11, 5, 1]] {
            var parser = UpstreamResponseParser()
            parser.expectResponse(to: .POST)
            var failed = false
            do {
                for piece in Self.split(bytes, pieces) {
                    var buffer = ByteBuffer(bytes: piece)
                    while try parser.next(from: &buffer) != nil {}
                }
            } catch {
                failed = true
            }
            #expect(failed, "\(`case`.0) in pieces \(pieces)")
        }
    }

    @Test func aHeadOverTheLimitIsRefusedBeforeItIsAllRead() {
        var parser = UpstreamResponseParser()
        parser.expectResponse(to: .GET)
        var refused = false
        var fed = 0
        let line = ByteBuffer(string: "x-padding: " + String(repeating: "a", count: 1000) + "\r\n")
        var buffer = ByteBuffer(string: "HTTP/1.1 200 OK\r\n")
        do {
            while fed < 1_000 {
                _ = try parser.next(from: &buffer)
                buffer = line
                fed += 1
            }
        } catch {
            refused = true
        }
        #expect(refused)
        #expect(fed * 1_013 <= UpstreamResponseParser.maxHeadBytes + 2_000)
    }

    @Test func theConnectionsEndEndsOnlyABodyReadUntilTheClose() throws {
        var untilClose = UpstreamResponseParser()
        untilClose.expectResponse(to: .POST)
        var bytes = ByteBuffer(string: "HTTP/1.1 200 OK\r\n\r\npartial")
        while try untilClose.next(from: &bytes) != nil {}
        let untilCloseEnded = untilClose.inputEnded()
        #expect(untilCloseEnded)

        var short = UpstreamResponseParser()
        short.expectResponse(to: .POST)
        bytes = ByteBuffer(string: "HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\npartial")
        while try short.next(from: &bytes) != nil {}
        let shortEnded = short.inputEnded()
        #expect(!shortEnded)

        var idle = UpstreamResponseParser()
        let idleEnded = idle.inputEnded()
        #expect(!idleEnded)
    }
}
