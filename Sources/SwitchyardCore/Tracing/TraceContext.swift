/// W3C Trace Context (`traceparent`): the trace a request belongs to and the span that sent it.
package struct TraceContext: Sendable, Hashable {
    /// 32 lower-case hex digits, not all zero.
    package var traceID: String
    /// 16 lower-case hex digits, not all zero: the span this context names as parent.
    package var spanID: String
    /// Two hex digits; `01` = sampled.
    package var flags: String

    /// Parses a `traceparent` header; `nil` for anything malformed (which then starts a new trace).
    package init?(traceparent: String) {
        let parts = traceparent.trimmingOptionalWhitespace().split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count >= 4, parts[0].count == 2, parts[0] != "ff", Self.isHex(parts[0]),
            parts[1].count == 32, Self.isHex(parts[1]), parts[1] != Substring(String(repeating: "0", count: 32)),
            parts[2].count == 16, Self.isHex(parts[2]), parts[2] != Substring(String(repeating: "0", count: 16)),
            parts[3].count == 2, Self.isHex(parts[3]),
            parts[0] != "00" || parts.count == 4
        else { return nil }
        traceID = String(parts[1])
        spanID = String(parts[2])
        flags = String(parts[3])
    }

    package init(traceID: String, spanID: String, flags: String) {
        self.traceID = traceID
        self.spanID = spanID
        self.flags = flags
    }

    /// A new trace, sampled, with the given random source.
    package static func start<R: RandomNumberGenerator>(using random: inout R) -> TraceContext {
        TraceContext(traceID: randomHex(bytes: 16, using: &random), spanID: randomHex(bytes: 8, using: &random), flags: "01")
    }

    /// The same trace with a new span of ours as parent.
    package func child<R: RandomNumberGenerator>(using random: inout R) -> TraceContext {
        TraceContext(traceID: traceID, spanID: Self.randomHex(bytes: 8, using: &random), flags: flags)
    }

    package var traceparent: String {
        let count = 5 + traceID.utf8.count + spanID.utf8.count + flags.utf8.count
        return String(unsafeUninitializedCapacity: count) { output in
            var end = Self.append("00", to: output, at: 0)
            end = Self.append(traceID, to: output, at: end)
            end = Self.append(spanID, to: output, at: end)
            return Self.append(flags, to: output, at: end)
        }
    }

    /// Writes `part` into `output` at `start`, after a dash unless it comes first; returns where it ends.
    private static func append(_ part: String, to output: UnsafeMutableBufferPointer<UInt8>, at start: Int) -> Int {
        var start = start
        if start > 0 {
            output[start] = UInt8(ascii: "-")
            start += 1
        }
        return UnsafeMutableBufferPointer(rebasing: output[start...]).initialize(fromContentsOf: part.utf8) + start
    }

    /// Whether the trace is recorded (the `sampled` flag).
    package var isSampled: Bool { UInt8(flags, radix: 16).map { $0 & 1 == 1 } ?? false }

    /// `bytes` (8 or 16) random bytes as hex, never all zero; one draw per 8 bytes.
    private static func randomHex<R: RandomNumberGenerator>(bytes: Int, using random: inout R) -> String {
        var words: (UInt64, UInt64) = (random.next(), bytes > 8 ? random.next() : 0)
        if words == (0, 0) {
            if bytes > 8 { words.1 = 1 } else { words.0 = 1 }
        }
        return withUnsafeBytes(of: &words) { Hex.encode(UnsafeRawBufferPointer(rebasing: $0.prefix(bytes))) }
    }

    private static func isHex(_ text: Substring) -> Bool {
        text.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }
}
