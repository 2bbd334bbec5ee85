import NIOCore

/// Splits an upstream's SSE byte stream into whole events as chunks arrive, so each event can be
/// looked at (usage, end marker) and passed on at once. Bytes of an unfinished event wait for the rest.
struct ServerSentEventScanner {
    private var pending = ByteBuffer()

    /// The complete events now available, each with its terminating blank line.
    mutating func events(appending chunk: ByteBuffer) -> [ByteBuffer] {
        var chunk = chunk
        pending.writeBuffer(&chunk)
        var events: [ByteBuffer] = []
        while let end = Self.endOfEvent(in: pending) {
            if let event = pending.readSlice(length: end) {
                events.append(event)
            }
        }
        if pending.readerIndex > 4096 {
            pending.discardReadBytes()
        }
        return events
    }

    /// Bytes left after the last complete event.
    var remainder: ByteBuffer { pending }

    /// Length up to and including the first blank line (`\n\n` or `\n\r\n`), if there is one.
    private static func endOfEvent(in buffer: ByteBuffer) -> Int? {
        buffer.withUnsafeReadableBytes { bytes -> Int? in
            var index = 0
            while index < bytes.count {
                if bytes[index] == UInt8(ascii: "\n") {
                    if index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "\n") { return index + 2 }
                    if index + 2 < bytes.count, bytes[index + 1] == UInt8(ascii: "\r"), bytes[index + 2] == UInt8(ascii: "\n") {
                        return index + 3
                    }
                }
                index += 1
            }
            return nil
        }
    }
}

extension ByteBuffer {
    /// Whether the readable bytes contain `needle`.
    func contains(_ needle: StaticString) -> Bool {
        withUnsafeReadableBytes { haystack in
            needle.withUTF8Buffer { needle in
                guard needle.count <= haystack.count, let first = needle.first else { return false }
                var start = 0
                while start + needle.count <= haystack.count {
                    if haystack[start] == first {
                        var offset = 1
                        while offset < needle.count && haystack[start + offset] == needle[offset] { offset += 1 }
                        if offset == needle.count { return true }
                    }
                    start += 1
                }
                return false
            }
        }
    }
}
