/// Receives a string's decoded content from `JSONByteReader.string(into:)`: runs of bytes copied as they are, and the
/// code points of escapes.
protocol JSONStringSink {
    /// Whether bytes from 0x80 up come one at a time through `append(nonASCII:)`, so runs hold ASCII only.
    static var takesNonASCIIBytesOneByOne: Bool { get }
    mutating func append(run: Range<Int>, of bytes: UnsafeRawBufferPointer)
    mutating func append(nonASCII byte: UInt8)
    mutating func append(escaped scalar: Unicode.Scalar)
}

/// A sink for strings that only need checking.
struct IgnoredStringBytes: JSONStringSink {
    static var takesNonASCIIBytesOneByOne: Bool { false }
    func append(run: Range<Int>, of bytes: UnsafeRawBufferPointer) {}
    func append(nonASCII byte: UInt8) {}
    func append(escaped scalar: Unicode.Scalar) {}
}

/// A string's decoded bytes: a range of the input while there was no escape (the usual case, with no copy), a buffer
/// from the first escape on.
struct DecodedStringBytes: JSONStringSink {
    static var takesNonASCIIBytesOneByOne: Bool { false }
    let bytes: UnsafeRawBufferPointer
    private var unescaped = 0..<0
    private var escaped: [UInt8]?

    init(bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    mutating func append(run: Range<Int>, of bytes: UnsafeRawBufferPointer) {
        if escaped == nil {
            unescaped = run
        } else {
            escaped!.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[run]))
        }
    }

    func append(nonASCII byte: UInt8) {}

    mutating func append(escaped scalar: Unicode.Scalar) {
        if escaped == nil { escaped = Array(UnsafeRawBufferPointer(rebasing: bytes[unescaped])) }
        escaped!.append(contentsOf: UTF8.encode(scalar)!)
    }

    /// Calls `body` with the decoded bytes.
    func withBytes<Result>(_ body: (UnsafeRawBufferPointer) -> Result) -> Result {
        guard let escaped else { return body(UnsafeRawBufferPointer(rebasing: bytes[unescaped])) }
        return escaped.withUnsafeBytes(body)
    }

    /// The decoded string; ill-formed UTF-8 is repaired as `JSONValue.parse` repairs it.
    var string: String {
        withBytes { String(decoding: $0, as: UTF8.self) }
    }
}

/// Counts the UTF-8 bytes of a string once decoded and repaired as `String(decoding:as:)` repairs it: each maximal
/// ill-formed subsequence becomes U+FFFD (three bytes), as Unicode recommends and the standard library does.
struct DecodedUTF8Counter: JSONStringSink {
    static var takesNonASCIIBytesOneByOne: Bool { true }
    private var count = 0
    /// Bytes of the sequence in progress so far, and continuation bytes it still needs.
    private var sequenceBytes = 0
    private var sequenceNeeds = 0
    /// The range the next continuation byte must fall in (narrower after E0, ED, F0 and F4).
    private var lowest: UInt8 = 0x80
    private var highest: UInt8 = 0xBF

    mutating func append(run: Range<Int>, of bytes: UnsafeRawBufferPointer) {
        guard !run.isEmpty else { return }
        endSequence()
        count += run.count
    }

    mutating func append(escaped scalar: Unicode.Scalar) {
        endSequence()
        count += UTF8.width(scalar)
    }

    mutating func append(nonASCII byte: UInt8) {
        if sequenceNeeds > 0 {
            if lowest <= byte && byte <= highest {
                sequenceBytes += 1
                sequenceNeeds -= 1
                (lowest, highest) = (0x80, 0xBF)
                if sequenceNeeds == 0 {
                    count += sequenceBytes
                    sequenceBytes = 0
                }
                return
            }
            endSequence()
        }
        switch byte {
        case 0xC2...0xDF: startSequence(needing: 1)
        case 0xE0: startSequence(needing: 2, lowest: 0xA0)
        case 0xE1...0xEC, 0xEE...0xEF: startSequence(needing: 2)
        case 0xED: startSequence(needing: 2, highest: 0x9F)
        case 0xF0: startSequence(needing: 3, lowest: 0x90)
        case 0xF1...0xF3: startSequence(needing: 3)
        case 0xF4: startSequence(needing: 3, highest: 0x8F)
        default: count += 3  // a stray continuation byte or one that never starts a sequence
        }
    }

    /// The count, with an unfinished sequence at the end counted as one U+FFFD.
    mutating func finish() -> Int {
        endSequence()
        return count
    }

    private mutating func startSequence(needing continuations: Int, lowest: UInt8 = 0x80, highest: UInt8 = 0xBF) {
        sequenceBytes = 1
        sequenceNeeds = continuations
        (self.lowest, self.highest) = (lowest, highest)
    }

    /// An unfinished sequence is cut short: it becomes one U+FFFD.
    private mutating func endSequence() {
        guard sequenceNeeds > 0 else { return }
        count += 3
        sequenceBytes = 0
        sequenceNeeds = 0
        (lowest, highest) = (0x80, 0xBF)
    }
}
