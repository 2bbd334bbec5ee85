import ServiceLifecycle

/// Drives rollouts and scheduled experiments: every tick, due steps run, due analyses judge the
/// canary on the recent outcomes, and experiments start or complete at their times. State lives
/// in the repository, so a restart resumes where it was.
struct RolloutController: Service {
    let writer: ConfigurationWriter
    let outcomes: RecentOutcomes
    var tick: Duration = .seconds(1)

    func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            try? await cancelWhenGracefulShutdown { [tick] in try await Task.sleep(for: tick) }
            guard !Task.isShuttingDownGracefully else { break }
            let now = ConfigurationWriter.now()
            await writer.tick(now: now, outcomes: outcomes)
            await writer.tickExperiments(now: now)
        }
    }
}
