import ServiceLifecycle

/// Drives rollouts: every tick, due steps run and due analyses judge the canary on the recent
/// outcomes. State lives in the repository, so a restart resumes where it was.
struct RolloutController: Service {
    let releases: ReleaseService
    let outcomes: RecentOutcomes
    var tick: Duration = .seconds(1)

    func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            try? await cancelWhenGracefulShutdown { [tick] in try await Task.sleep(for: tick) }
            guard !Task.isShuttingDownGracefully else { break }
            await releases.tick(now: ReleaseService.now(), outcomes: outcomes)
        }
    }
}
