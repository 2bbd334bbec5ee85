import SwitchyardCore
import Synchronization

/// Holds the effective configuration that routing reads, swapped whole after every change.
package final class ConfigurationHolder: Sendable {
    private let value: Mutex<EffectiveConfiguration>

    package init(_ configuration: EffectiveConfiguration) {
        value = Mutex(configuration)
    }

    /// The configuration as of now; later swaps do not change the returned value.
    package var current: EffectiveConfiguration {
        value.withLock { $0 }
    }

    package func replace(with configuration: EffectiveConfiguration) {
        value.withLock { $0 = configuration }
    }
}
