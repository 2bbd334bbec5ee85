/// Edits to a byte buffer, collected and then applied in one copy: each replaces a range of the original bytes, or
/// inserts at an offset when its range is empty. Bytes no edit touches come through as they were.
package struct JSONSplice: Sendable {
    package struct Edit: Sendable, Hashable {
        /// A range of the original bytes; empty to insert.
        package var range: Range<Int>
        package var replacement: [UInt8]
    }

    package private(set) var edits: [Edit] = []

    package init() {}

    package var isEmpty: Bool { edits.isEmpty }

    /// Replaces `range` of the original bytes; ranges of different edits must not overlap.
    package mutating func replace(_ range: Range<Int>, with replacement: [UInt8]) {
        edits.append(Edit(range: range, replacement: replacement))
    }

    /// Inserts `bytes` before the original byte at `offset`; insertions at one offset keep the order they were made.
    package mutating func insert(_ bytes: [UInt8], at offset: Int) {
        edits.append(Edit(range: offset..<offset, replacement: bytes))
    }

    /// Removes `range` of the original bytes.
    package mutating func remove(_ range: Range<Int>) {
        edits.append(Edit(range: range, replacement: []))
    }

    /// The edited bytes.
    package func apply(to bytes: UnsafeRawBufferPointer) -> [UInt8] {
        // Insertions go before a replacement that starts at the same offset; otherwise the order of making stands.
        let ordered = edits.indices.sorted { left, right in
            let (a, b) = (edits[left].range, edits[right].range)
            if a.lowerBound != b.lowerBound { return a.lowerBound < b.lowerBound }
            if a.isEmpty != b.isEmpty { return a.isEmpty }
            return left < right
        }
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count + edits.reduce(0) { $0 + $1.replacement.count - $1.range.count })
        var copied = 0
        for index in ordered {
            let edit = edits[index]
            precondition(edit.range.lowerBound >= copied && edit.range.upperBound <= bytes.count, "splice edits overlap or lie outside the bytes")
            output.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[copied..<edit.range.lowerBound]))
            output.append(contentsOf: edit.replacement)
            copied = edit.range.upperBound
        }
        output.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[copied...]))
        return output
    }

    /// The edited bytes.
    package func apply(to bytes: [UInt8]) -> [UInt8] {
        bytes.withUnsafeBytes { apply(to: $0) }
    }
}
