import Foundation
import Logging
import NIOPosix
import ServiceLifecycle

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
                let mallopt = cFunction("mallopt", as: (@convention(c) (Int32, Int32) -> Int32).self)
            else { return }
            let mmapThreshold: Int32 = -3  // M_MMAP_THRESHOLD
            _ = mallopt(mmapThreshold, 128 * 1024)
        #endif
    }

    /// Returns the whole pages of freed heap memory to the system (`malloc_trim(0)`): glibc gives back
    /// on its own only what is free at the top of each heap, not the pages between live blocks that
    /// a burst's requests and connections leave. It locks each arena while it walks it, so it belongs
    /// on a thread of its own when the gateway is quiet, not beside busy event loops.
    static func returnFreedPages() {
        #if canImport(Glibc)
            guard let mallocTrim = cFunction("malloc_trim", as: (@convention(c) (Int) -> Int32).self) else { return }
            _ = mallocTrim(0)
        #endif
    }

    /// The resident set in bytes (`/proc/self/statm`), or nil where there is none.
    static func residentBytes() -> Int? {
        guard let statm = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8),
            let pages = statm.split(separator: " ").dropFirst().first.flatMap({ Int($0) })
        else { return nil }
        #if canImport(Glibc)
            return pages * sysconf(Int32(_SC_PAGESIZE))
        #else
            return pages * 4096
        #endif
    }

    #if canImport(Glibc)
        /// A function of the C library by name: `mallopt` and `malloc_trim` are declared in
        /// <malloc.h>, which Swift's Glibc module leaves out.
        private static func cFunction<Function>(_ name: String, as type: Function.Type) -> Function? {
            guard let symbol = dlsym(nil, name) else { return nil }  // nil: RTLD_DEFAULT
            return unsafeBitCast(symbol, to: type)
        }
    #endif
}

/// Gives memory back once a burst is over: when no client exchange has started or been in flight for
/// `quietPeriod`, it asks the database to drop its caches and the allocator to return freed pages,
/// once per quiet spell, on NIO's blocking-work thread pool (never on an event loop). Without it the
/// resident set stays where the burst's peak left it (docs/performance.md).
struct MemoryGiveBack: Service {
    /// Exchanges started so far and in flight now (`RequestPathGauges`).
    var activity: @Sendable () -> (started: Int, inFlight: Int)
    /// Drops what the database keeps in memory and can read again (SQLite's page and statement caches).
    var releaseCaches: @Sendable () -> Void
    var quietPeriod: Duration = .seconds(2)
    var checkInterval: Duration = .milliseconds(500)
    var logger: Logger

    func run() async throws {
        var lastStarted = activity().started
        var quietSince = ContinuousClock.now
        var gaveBack = true  // nothing to give back before the first request
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            try? await cancelWhenGracefulShutdown { [checkInterval] in try await Task.sleep(for: checkInterval) }
            let (started, inFlight) = activity()
            if started != lastStarted || inFlight > 0 {
                lastStarted = started
                quietSince = .now
                gaveBack = false
            } else if !gaveBack, quietSince.duration(to: .now) >= quietPeriod {
                gaveBack = true
                await giveBack()
            }
        }
    }

    private func giveBack() async {
        let releaseCaches = self.releaseCaches
        let before = ProcessMemory.residentBytes()
        let started = ContinuousClock.now
        do {
            try await NIOThreadPool.singleton.runIfActive {
                releaseCaches()
                ProcessMemory.returnFreedPages()
            }
        } catch {
            return  // the pool is shutting down with the process
        }
        logger.debug(
            "quiet after a burst: memory given back",
            metadata: [
                "rss.before_bytes": "\(before ?? 0)", "rss.after_bytes": "\(ProcessMemory.residentBytes() ?? 0)",
                "duration": "\(started.duration(to: .now))",
            ])
    }
}
