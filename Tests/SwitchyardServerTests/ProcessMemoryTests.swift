#if canImport(Glibc)
    import Glibc
    import Testing

    @testable import SwitchyardServer

    /// The allocator keeps large blocks in mappings of their own after a large block was freed, so
    /// that what a burst allocated goes back to the system.
    @Suite struct ProcessMemoryTests {
        /// glibc marks a chunk it mapped on its own with bit 1 of the size word in front of it.
        static func isMappedOnItsOwn(_ block: UnsafeMutableRawPointer) -> Bool {
            block.load(fromByteOffset: -MemoryLayout<Int>.size, as: Int.self) & 2 != 0
        }

        @Test func aFreedLargeBlockDoesNotMoveLargeBlocksIntoTheHeap() throws {
            ProcessMemory.returnLargeBlocksWhenFreed(environment: [:])
            // Left to itself, glibc would now serve blocks up to 8 MiB from the heap.
            free(malloc(8 << 20))
            let block = try #require(malloc(256 << 10))
            defer { free(block) }
            #expect(Self.isMappedOnItsOwn(block))
        }
    }
#endif
