import Foundation
import NIOCore

extension ByteBuffer {
    /// Whether the readable bytes contain `needle`: its first byte found with C's `memchr`, the rest
    /// compared with `memcmp` (it is asked of every stream event).
    func contains(_ needle: StaticString) -> Bool {
        withUnsafeReadableBytes { haystack in
            let length = needle.utf8CodeUnitCount
            guard let base = haystack.baseAddress, length > 0 else { return false }
            let first = Int32(needle.utf8Start[0])
            var offset = 0
            while offset + length <= haystack.count, let found = memchr(base + offset, first, haystack.count - offset - length + 1) {
                if memcmp(found, needle.utf8Start, length) == 0 { return true }
                offset = base.distance(to: UnsafeRawPointer(found)) + 1
            }
            return false
        }
    }
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
            guard let base = bytes.baseAddress else { return }
            var index = start
            let count = bytes.count
            // From one line feed to the next (C's `memchr`), then a look at what follows it.
            while index < count, let found = memchr(base + index, Int32(UInt8(ascii: "\n")), count - index) {
                index = base.distance(to: UnsafeRawPointer(found))
                if index + 1 < count, bytes[index + 1] == UInt8(ascii: "\n") {
                    ends.append(index + 2)
                    index += 2
                    continue
                }
                if index + 2 < count, bytes[index + 1] == UInt8(ascii: "\r"), bytes[index + 2] == UInt8(ascii: "\n") {
                    ends.append(index + 3)
                    index += 3
                    continue
                }
                index += 1
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
