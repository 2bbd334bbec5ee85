import Foundation
import NIOCore

extension ByteBuffer {
    /// Whether the readable bytes contain `needle` (it is asked of every stream event).
    func contains(_ needle: StaticString) -> Bool {
        withUnsafeReadableBytes { $0.firstOffset(of: needle, from: 0) != nil }
    }

    /// Whether one of the event's lines is the field `name` with the value `value` exactly: `data:
    /// [DONE]`, `event: message_stop` (the space after the colon is optional, as in SSE). Text inside a
    /// JSON data line never matches: a JSON string cannot hold a raw line break, so no line starts in one.
    func hasFieldLine(_ name: StaticString, _ value: StaticString) -> Bool {
        withUnsafeReadableBytes { bytes in
            var from = 0
            while let offset = bytes.firstOffset(of: value, from: from) {
                from = offset + 1
                let end = offset + value.utf8CodeUnitCount
                guard end == bytes.count || bytes[end] == UInt8(ascii: "\n") || bytes[end] == UInt8(ascii: "\r") else { continue }
                var colon = offset - 1
                if colon >= 0, bytes[colon] == UInt8(ascii: " ") { colon -= 1 }
                let nameStart = colon - name.utf8CodeUnitCount
                guard nameStart >= 0, bytes[colon] == UInt8(ascii: ":"),
                    memcmp(bytes.baseAddress! + nameStart, name.utf8Start, name.utf8CodeUnitCount) == 0,
                    nameStart == 0 || bytes[nameStart - 1] == UInt8(ascii: "\n") || bytes[nameStart - 1] == UInt8(ascii: "\r")
                else { continue }
                return true
            }
            return false
        }
    }
}

extension UnsafeRawBufferPointer {
    /// Where `needle` first stands at or after `start`. C's `memchr` looks for the needle's byte that
    /// is least common in JSON text (looking for its quote would stop at every member name), `memcmp`
    /// compares the rest.
    func firstOffset(of needle: StaticString, from start: Int) -> Int? {
        let length = needle.utf8CodeUnitCount
        guard let base = baseAddress, length > 0, start >= 0 else { return nil }
        var anchor = 0
        Self.rarityInJSON.withUnsafeBufferPointer { rarityOf in
            var anchorRarity = -1
            for index in 0..<length {
                let rarity = rarityOf[Int(needle.utf8Start[index])]
                if rarity > anchorRarity {
                    anchor = index
                    anchorRarity = rarity
                }
            }
        }
        let anchorByte = Int32(needle.utf8Start[anchor])
        // The anchor of an occurrence at or after `start` stands between these.
        var from = start + anchor
        let last = count - length + anchor
        while from <= last, let found = memchr(base + from, anchorByte, last - from + 1) {
            let candidate = base.distance(to: UnsafeRawPointer(found)) - anchor
            if memcmp(base + candidate, needle.utf8Start, length) == 0 { return candidate }
            from = candidate + anchor + 1
        }
        return nil
    }

    /// The offset just past the first blank line at or after `start` (a line feed followed by `\n` or
    /// `\r\n`): the end of an SSE event, or of an HTTP head. From one line feed to the next (C's
    /// `memchr`), then a look at what follows it.
    func endOfBlankLine(from start: Int) -> Int? {
        guard let base = baseAddress else { return nil }
        var index = start
        while index < count, let found = memchr(base + index, Int32(UInt8(ascii: "\n")), count - index) {
            index = base.distance(to: UnsafeRawPointer(found))
            if index + 1 < count, self[index + 1] == UInt8(ascii: "\n") { return index + 2 }
            if index + 2 < count, self[index + 1] == UInt8(ascii: "\r"), self[index + 2] == UInt8(ascii: "\n") { return index + 3 }
            index += 1
        }
        return nil
    }

    /// Whether these bytes are `lowercased` in any case of its ASCII letters (a header field name).
    func equalsIgnoringCase(_ lowercased: StaticString) -> Bool {
        guard count == lowercased.utf8CodeUnitCount else { return false }
        for index in 0..<count where self[index] != lowercased.utf8Start[index] {
            // Only an upper-case letter may differ, by its case bit.
            let byte = self[index]
            guard byte >= UInt8(ascii: "A"), byte <= UInt8(ascii: "Z"), byte | 0x20 == lowercased.utf8Start[index] else { return false }
        }
        return true
    }

    /// By byte: higher for bytes less common in the JSON of API answers and stream events (the
    /// frequent ones ranked from a quote down; any other byte is rarer than all of them).
    private static let rarityInJSON: [Int] = {
        let frequent = Array(#"":, etnoaisrlcdu_{}hpm0123456789kfbgy"#.utf8)
        var rarity = [Int](repeating: frequent.count, count: 256)
        for (rank, byte) in frequent.enumerated() { rarity[Int(byte)] = rank }
        return rarity
    }()
}

/// Finds the ends of SSE events in an upstream's bytes as they arrive, looking at each byte once, and
/// passes complete events on as slices of the bytes that came (runs of kept events in one write).
/// An unfinished event waits for the rest, up to a size limit.
struct ServerSentEventSplitter {
    enum Outcome {
        case split
        /// One event grew past the limit without ending.
        case eventTooLarge
    }

    private var pending: ByteBuffer?
    /// Bytes of `pending` already searched for an event's end.
    private var searched = 0
    private var ends: [Int] = []

    /// Splits `chunk` (after what is pending) into events; `keep` says whether an event goes on,
    /// `write` receives the bytes that go on.
    mutating func split(
        _ chunk: inout ByteBuffer, maxEventBytes: Int, keep: (ByteBuffer) -> Bool, write: (ByteBuffer) -> Void
    ) -> Outcome {
        var work: ByteBuffer
        var start = 0
        if var pending {
            self.pending = nil
            pending.writeBuffer(&chunk)
            work = pending
            // An end split across chunks: look again at the last two bytes searched.
            start = max(0, searched - 2)
        } else {
            work = chunk
        }
        ends.removeAll(keepingCapacity: true)
        work.withUnsafeReadableBytes { bytes in
            var index = start
            while let end = bytes.endOfBlankLine(from: index) {
                ends.append(end)
                index = end
            }
        }
        let base = work.readerIndex
        var runStart = 0
        var eventStart = 0
        for end in ends {
            let event = work.getSlice(at: base + eventStart, length: end - eventStart)!
            if !keep(event) {
                if eventStart > runStart { write(work.getSlice(at: base + runStart, length: eventStart - runStart)!) }
                runStart = end
            }
            eventStart = end
        }
        if eventStart > runStart { write(work.getSlice(at: base + runStart, length: eventStart - runStart)!) }
        work.moveReaderIndex(forwardBy: eventStart)
        guard work.readableBytes > 0 else {
            searched = 0
            return .split
        }
        searched = work.readableBytes
        pending = work
        return work.readableBytes > maxEventBytes ? .eventTooLarge : .split
    }

    /// Consumes the complete events in `chunk` (after what is pending) for a translation: each is
    /// handed to `translate` with the output to write its replacement into; nothing of the original
    /// goes on. `nil` when one event grew past `maxEventBytes` without ending.
    mutating func translate(
        _ chunk: ByteBuffer, maxEventBytes: Int, _ translate: (_ event: ByteBuffer, _ output: inout ByteBuffer) -> Void
    ) -> ByteBuffer? {
        var chunk = chunk
        var output = ByteBuffer()
        let outcome = split(&chunk, maxEventBytes: maxEventBytes) { event in
            translate(event, &output)
            return false
        } write: { _ in
        }
        return outcome == .eventTooLarge ? nil : output
    }

    /// The bytes of an unfinished event, if any, leaving nothing pending.
    mutating func takeRemainder() -> ByteBuffer? {
        defer {
            pending = nil
            searched = 0
        }
        return pending
    }
}
