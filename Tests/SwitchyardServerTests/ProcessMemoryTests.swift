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

        /// Sixteen blocks, not one: in a process whose heap has free holes (other tests run beside this
        /// one), glibc serves a block from a hole large enough before it maps one; sixteen of 256 KiB
        /// do not all fit in holes, and without the setting none of them would be mapped.
        @Test func aFreedLargeBlockDoesNotMoveLargeBlocksIntoTheHeap() throws {
            ProcessMemory.returnLargeBlocksWhenFreed(environment: [:])
            // Left to itself, glibc would now serve blocks up to 8 MiB from the heap.
            free(malloc(8 << 20))
            var blocks: [UnsafeMutableRawPointer] = []
            defer { blocks.forEach { free($0) } }
            for _ in 0..<16 { blocks.append(try #require(malloc(256 << 10))) }
            let mapped = blocks.filter(Self.isMappedOnItsOwn).count
            #expect(mapped >= 12, "\(mapped) of 16 blocks of 256 KiB mapped on their own")
        }
    }
#endif
