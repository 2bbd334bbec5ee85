import Foundation
import Logging
import ServiceLifecycle
import SwitchyardCore
import Synchronization

/// Calls `onSignal` on every `SIGHUP` (which then no longer ends the process).
final class HangupSignal {
    private let source: any DispatchSourceSignal

    init(onSignal: @escaping @Sendable () -> Void) {
        signal(SIGHUP, SIG_IGN)
        source = DispatchSource.makeSignalSource(signal: SIGHUP, queue: .global())
        source.setEventHandler(handler: onSignal)
        source.resume()
    }

    func stop() {
        source.cancel()
    }
}
