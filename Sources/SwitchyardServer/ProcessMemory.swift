#if canImport(Glibc)
    import Glibc
#endif

/// How the C allocator gives memory back to the system after a burst.
enum ProcessMemory {
    /// glibc raises its mmap threshold each time a large block is freed (up to 32 MiB), after which
    /// large arrays (a busy interval's outcome batch, the rollout windows) come from the heap,
    /// where freeing them rarely returns the pages. A fixed
    /// threshold keeps blocks of 128 KiB and more in mappings of their own, returned when freed.
    /// `MALLOC_MMAP_THRESHOLD_` or `GLIBC_TUNABLES` in the environment take precedence.
    static func returnLargeBlocksWhenFreed(environment: [String: String]) {
        #if canImport(Glibc)
            guard environment["MALLOC_MMAP_THRESHOLD_"] == nil, environment["GLIBC_TUNABLES"] == nil,
                // `mallopt` is declared in <malloc.h>, which Swift's Glibc module leaves out.
                let symbol = dlsym(nil, "mallopt")  // nil: RTLD_DEFAULT
            else { return }
            let mallopt = unsafeBitCast(symbol, to: (@convention(c) (Int32, Int32) -> Int32).self)
            let mmapThreshold: Int32 = -3  // M_MMAP_THRESHOLD
            _ = mallopt(mmapThreshold, 128 * 1024)
        #endif
    }
}
