import Logging
import ServiceLifecycle
import SwitchyardCore

/// Swaps in a fresh snapshot whenever another instance on the same database changes the
/// configuration (or the feed reconnects and may have missed a change): the whole stored
/// configuration, rollouts and experiments are read again.
struct ConfigurationFollower: Service {
    let feed: any ConfigurationChangeFeed
    let writer: ConfigurationWriter
    let logger: Logger

    func run() async throws {
        await cancelWhenGracefulShutdown {
            await feed.follow { [writer, logger] in
                do {
                    try await writer.reload()
                } catch {
                    logger.error("reloading the configuration after a change elsewhere failed", metadata: ["error": "\(error)"])
                }
            }
        }
    }
}

/// Takes in the conversation bindings other instances on the same database make.
struct SessionFollower: Service {
    let feed: any SessionChangeFeed
    let sessions: SessionTable

    func run() async throws {
        await cancelWhenGracefulShutdown {
            await feed.follow { [sessions] change in await sessions.apply(change) }
        }
    }
}
