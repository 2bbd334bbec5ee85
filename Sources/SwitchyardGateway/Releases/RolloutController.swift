import Logging
import ServiceLifecycle
import SwitchyardCore

/// Drives rollouts and scheduled experiments: every tick, due steps run, due analyses judge the
/// canary on the recent outcomes, and experiments start or complete at their times. State lives
/// in the repository, so a restart resumes where it was.
///
/// With several instances on one database, only the elected controller ticks, and it judges the
/// outcomes every instance recorded (`windows`); when it becomes controller it first reads the
/// stored state again, so it continues where the previous one stopped.
struct RolloutController: Service {
    let writer: ConfigurationWriter
    let outcomes: RecentOutcomes
    var election: (any ControllerElection)? = nil
    var windows: (any OutcomeWindowRepository)? = nil
    var logger = Logger(label: "switchyard")
    var tick: Duration = .seconds(1)

    func run() async throws {
        var wasController = election == nil
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            try? await cancelWhenGracefulShutdown { [tick] in try await Task.sleep(for: tick) }
            guard !Task.isShuttingDownGracefully else { break }
            let isController = election?.isController ?? true
            defer { wasController = isController }
            guard isController else {
                if wasController { logger.notice("no longer the controller: another instance drives rollouts and schedules") }
                continue
            }
            if !wasController {
                logger.notice("became the controller: driving rollouts and schedules")
                do {
                    try await writer.reload()
                } catch {
                    logger.error("reloading before taking over failed", metadata: ["error": "\(error)"])
                    continue
                }
            }
            let now = ConfigurationWriter.now()
            await writer.tick(now: now, outcomes: outcomes, windows: windows)
            await writer.tickExperiments(now: now)
        }
    }
}

/// Runs an election's campaign for as long as the gateway runs.
struct ControllerCampaign: Service {
    let election: any ControllerElection

    func run() async throws {
        await cancelWhenGracefulShutdown { await election.campaign() }
    }
}
