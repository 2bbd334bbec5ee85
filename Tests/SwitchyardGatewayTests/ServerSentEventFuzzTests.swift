import Foundation
import NIOCore
import SwitchyardCore
import Testing

@testable import SwitchyardGateway

/// The SSE splitter against random streams cut at random places: what it passes on never depends on
/// how the bytes were chunked, every byte is either passed on, dropped as a whole event or still
/// pending, and an event over the cap is reported. Rounds: `SWITCHYARD_FUZZ_ROUNDS` (default 3000).
@Suite struct ServerSentEventFuzzTests {
    static let rounds = ProcessInfo.processInfo.environment["SWITCHYARD_FUZZ_ROUNDS"].flatMap(Int.init) ?? 3_000

    struct Run: Equatable {
        var written: [UInt8] = []
        var kept: [[UInt8]] = []
        var remainder: [UInt8] = []
        var tooLarge = false
    }

    static func run(_ stream: [UInt8], chunks: [Int], maxEventBytes: Int) -> Run {
        var splitter = ServerSentEventSplitter()
        var result = Run()
        var offset = 0
        for size in chunks + [stream.count] where offset < stream.count {
            var chunk = ByteBuffer(bytes: stream[offset..<min(stream.count, offset + size)])
            offset += chunk.readableBytes
            let outcome = splitter.split(
                &chunk, maxEventBytes: maxEventBytes,
                keep: { event in
                    // Comments are dropped, as the relay drops the upstream's usage-only chunk.
                    let kept = event.getInteger(at: event.readerIndex, as: UInt8.self) != UInt8(ascii: ":")
                    if kept { result.kept.append(Array(event.readableBytesView)) }
                    return kept
                },
                write: { result.written += Array($0.readableBytesView) })
            if outcome == .eventTooLarge {
                result.tooLarge = true
                break
            }
        }
        if !result.tooLarge { result.remainder = splitter.takeRemainder().map { Array($0.readableBytesView) } ?? [] }
        return result
    }

    @Test func aNeedleIsFoundWhereverItStands() {
        var random = SplitMix64(seed: 0x5EED_0005)
        let alphabet = Array("[DONE]usage\" model.rc".utf8)
        for _ in 0..<Self.rounds {
            let haystack = (0..<Int.random(in: 0...40, using: &random)).map { _ in alphabet.randomElement(using: &random)! }
            var buffer = ByteBuffer(bytes: [UInt8](repeating: 0, count: Int.random(in: 0...3, using: &random)) + haystack)
            buffer.moveReaderIndex(forwardBy: buffer.readableBytes - haystack.count)  // a slice that does not start at 0
            let text = String(decoding: haystack, as: UTF8.self)
            #expect(buffer.contains("[DONE]") == text.contains("[DONE]"), "\(text)")
            #expect(buffer.contains("\"usage\"") == text.contains("\"usage\""), "\(text)")
            #expect(buffer.contains("\"model\"") == text.contains("\"model\""), "\(text)")
            #expect(buffer.contains("response.created") == text.contains("response.created"), "\(text)")
            #expect(buffer.contains("e") == text.contains("e"), "\(text)")
        }
    }

    @Test func anEventEndsOnlyWithAFieldLineNotWithTextThatQuotesIt() {
        let ends: [(String, Bool)] = [
            ("data: [DONE]\n\n", true), ("data:[DONE]\n\n", true), ("data: [DONE]", true), ("id: 7\r\ndata: [DONE]\r\n\r\n", true),
            ("data: {\"content\":\"[DONE]\"}\n\n", false), ("data: {\"content\":\"data: [DONE]\"}\n\n", false),
            ("data:  [DONE]\n\n", false), ("xdata: [DONE]\n\n", false), ("data: [DONE]x\n\n", false), (": data: [DONE]\n\n", false),
        ]
        for (text, ends) in ends {
            #expect(ByteBuffer(string: text).hasFieldLine("data", "[DONE]") == ends, "\(text.debugDescription)")
        }
        #expect(ByteBuffer(string: "event: message_stop\ndata: {}\n\n").hasFieldLine("event", "message_stop"))
        #expect(!ByteBuffer(string: "event: content_block_delta\ndata: {\"text\":\"event: message_stop\"}\n\n").hasFieldLine("event", "message_stop"))
    }

    /// Against SSE's own reading of a field line: split at line ends, the field up to the first colon,
    /// the value after it less one leading space.
    @Test func aFieldLineIsFoundAsSSEReadsLines() {
        var random = SplitMix64(seed: 0x5EED_F1E1)
        let pieces = ["data", ":", " ", "[DONE]", "\n", "\r", "x", "event", "{\"t\":\"", "\"}", "da"]
        for _ in 0..<Self.rounds {
            let text = (0..<Int(random.next() % 12)).map { _ in pieces[Int(random.next() % UInt64(pieces.count))] }.joined()
            let lines = text.split(omittingEmptySubsequences: false) { $0 == "\n" || $0 == "\r" || $0 == "\r\n" }
            let expected = lines.contains { line in
                guard let colon = line.firstIndex(of: ":") else { return false }
                var value = line[line.index(after: colon)...]
                if value.first == " " { value = value.dropFirst() }
                return line[..<colon] == "data" && value == "[DONE]"
            }
            #expect(ByteBuffer(string: text).hasFieldLine("data", "[DONE]") == expected, "\(text.debugDescription)")
        }
    }

    @Test func whatIsPassedOnDoesNotDependOnTheChunking() {
        var random = SplitMix64(seed: 0x5EED_55E0)
        let pieces = ["data: ", "{\"a\":1}", "\n", "\n\n", "\r\n", "\n\r\n", ": keep-alive", "event: x", "\r", "ü", "[DONE]", "data:", " "]
        var tooLarge = 0
        for round in 0..<Self.rounds {
            var stream: [UInt8] = []
            for _ in 0..<Int(random.next() % 40) { stream += Array(pieces[Int(random.next() % UInt64(pieces.count))].utf8) }
            if random.next() % 10 == 0 { stream += [UInt8](repeating: UInt8(ascii: "y"), count: Int(random.next() % 600)) }
            let cap = 64 + Int(random.next() % 512)
            let whole = Self.run(stream, chunks: [stream.count], maxEventBytes: cap)
            var chunks: [Int] = []
            var left = stream.count
            while left > 0 {
                let size = 1 + Int(random.next() % UInt64(min(left, 24)))
                chunks.append(size)
                left -= size
            }
            let chunked = Self.run(stream, chunks: chunks, maxEventBytes: cap)
            if whole.tooLarge || chunked.tooLarge {
                // A cap is reached when an unfinished event outgrows it, which chunking may reach earlier.
                tooLarge += 1
                #expect(chunked.written.count <= stream.count)
                continue
            }
            #expect(chunked == whole, "round \(round): \(String(decoding: stream, as: UTF8.self).debugDescription)")
            #expect(whole.written == whole.kept.flatMap { $0 }, "round \(round): written is the kept events, in order")
            let dropped = stream.count - whole.written.count - whole.remainder.count
            #expect(dropped >= 0 && stream.suffix(whole.remainder.count).elementsEqual(whole.remainder), "round \(round)")
            #expect(!Self.holdsEventEnd(whole.remainder), "round \(round): a whole event was left pending")
        }
        #expect(tooLarge > 0 && tooLarge < Self.rounds / 2)
    }

    static func holdsEventEnd(_ bytes: [UInt8]) -> Bool {
        let text = String(decoding: bytes, as: UTF8.self)
        return text.contains("\n\n") || text.contains("\n\r\n")
    }
}
