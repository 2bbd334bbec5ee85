import Logging
import Synchronization
import Testing

@testable import SwitchyardServer

#if canImport(Glibc)
    import Glibc

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

        @Test func freedPagesGoBackAndTheResidentSetIsRead() throws {
            let before = try #require(ProcessMemory.residentBytes())
            #expect(before > 1 << 20)
            ProcessMemory.returnFreedPages()
            #expect(try #require(ProcessMemory.residentBytes()) > 0)
        }
    }
#endif

/// Memory is given back once per quiet spell after traffic, never while an exchange is in flight.
@Suite struct MemoryGiveBackTests {
    final class Traffic: Sendable {
        let started = Atomic<Int>(0)
        let inFlight = Atomic<Int>(0)
        let releases = Atomic<Int>(0)
    }

    static func waitUntil(_ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while !condition(), ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
    }

    @Test func releasesOncePerQuietSpellAfterTraffic() async throws {
        let traffic = Traffic()
        let giveBack = MemoryGiveBack(
            activity: { (traffic.started.load(ordering: .relaxed), traffic.inFlight.load(ordering: .relaxed)) },
            releaseCaches: { traffic.releases.add(1, ordering: .relaxed) }, quietPeriod: .milliseconds(100),
            checkInterval: .milliseconds(10), logger: Logger(label: "test"))
        try await withThrowingTaskGroup { group in
            group.addTask { try await giveBack.run() }
            // Quiet from the start: nothing was taken, nothing to give back.
            try await Task.sleep(for: .milliseconds(300))
            #expect(traffic.releases.load(ordering: .relaxed) == 0)

            // A long exchange: in flight for three quiet periods, no release until it ends.
            traffic.started.add(1, ordering: .relaxed)
            traffic.inFlight.add(1, ordering: .relaxed)
            try await Task.sleep(for: .milliseconds(300))
            #expect(traffic.releases.load(ordering: .relaxed) == 0)
            traffic.inFlight.subtract(1, ordering: .relaxed)
            try await Self.waitUntil { traffic.releases.load(ordering: .relaxed) == 1 }
            #expect(traffic.releases.load(ordering: .relaxed) == 1)

            // Staying quiet does not release again; the next burst does.
            try await Task.sleep(for: .milliseconds(300))
            #expect(traffic.releases.load(ordering: .relaxed) == 1)
            traffic.started.add(5, ordering: .relaxed)
            try await Self.waitUntil { traffic.releases.load(ordering: .relaxed) == 2 }
            #expect(traffic.releases.load(ordering: .relaxed) == 2)
            group.cancelAll()
        }
    }
}
