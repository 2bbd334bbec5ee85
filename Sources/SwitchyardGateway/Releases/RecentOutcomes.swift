import SwitchyardCore
import Synchronization

/// The last outcomes of every model version, in memory, for rollout analysis; passes every event
/// on to the durable sink. A version keeps what a running rollout may still judge — its analysis
/// `window` — and any other version only the last minute (enough for a rollout that starts now),
/// both capped at `perVersionLimit`: memory follows traffic × window, not uptime.
package final class RecentOutcomes: OutcomeSink {
    package static let perVersionLimit = 50_000
    /// Kept for versions no running rollout judges.
    package static let unwatchedHorizonSeconds = 60.0

    /// 24 bytes (64 with optional `Double`s): a busy version holds tens of thousands. Milliseconds
    /// and similarities keep a `Float`'s seven digits; NaN stands for none.
    private struct Sample {
        var time: Double
        private var storedLatency: Float
        private var storedTTFT: Float
        private var storedAgreement: Float
        var isError: Bool

        init(time: Double, isError: Bool, latency: Double?, ttft: Double?, agreement: Double? = nil) {
            self.time = time
            self.isError = isError
            storedLatency = latency.map(Float.init) ?? .nan
            storedTTFT = ttft.map(Float.init) ?? .nan
            storedAgreement = agreement.map(Float.init) ?? .nan
        }

        /// `nil` for a failure without a served answer of this version.
        var latency: Double? { storedLatency.isNaN ? nil : Double(storedLatency) }
        var ttft: Double? { storedTTFT.isNaN ? nil : Double(storedTTFT) }
        /// Shadow copies: similarity of the answer to the primary's.
        var agreement: Double? { storedAgreement.isNaN ? nil : Double(storedAgreement) }
    }

    /// The samples of one version, oldest first; those before `head` are dropped.
    private struct Window {
        var samples: [Sample] = []
        var head = 0

        var newestTime: Double? { samples.last?.time }

        mutating func append(_ sample: Sample, horizon: Double) {
            samples.append(sample)
            drop(before: sample.time - horizon)
        }

        mutating func drop(before oldest: Double) {
            while head < samples.count, samples[head].time < oldest { head += 1 }
            head = max(head, samples.count - RecentOutcomes.perVersionLimit)
            // Compacted once the dropped part is the larger half: amortised O(1) per sample.
            if head > 1024 && head * 2 > samples.count {
                samples.removeFirst(head)
                head = 0
            }
        }

        func since(_ time: Double) -> [Sample] {
            samples[head...].filter { $0.time >= time }
        }
    }

    private struct State {
        var windows: [String: Window] = [:]
        /// Seconds kept per `model\0version` a running rollout judges.
        var horizons: [String: Double] = [:]

        func horizon(of key: String) -> Double {
            horizons[key] ?? RecentOutcomes.unwatchedHorizonSeconds
        }
    }

    private let next: any OutcomeSink
    private let state = Mutex(State())

    package init(forwardingTo next: any OutcomeSink) {
        self.next = next
    }

    /// Shadow copies of a version are kept apart from the requests it served.
    private static func key(_ model: String, _ version: String, shadow: Bool = false) -> String {
        model + (shadow ? "\u{1}" : "\u{0}") + version
    }

    package func record(_ event: OutcomeEvent) {
        next.record(event)
        guard !event.version.isEmpty else { return }
        let sample = Sample(
            time: event.time, isError: event.isError && event.status != 499, latency: event.latencyMilliseconds,
            ttft: event.timeToFirstTokenMilliseconds, agreement: event.agreement?.similarity)
        let key = Self.key(event.model, event.version, shadow: event.shadow)
        state.withLock { state in
            state.windows[key, default: Window()].append(sample, horizon: state.horizon(of: key))
            // A version that could not serve (its backends' circuits open) failed this request.
            if let failed = event.fellBackFrom, event.status != 499 {
                let failedKey = Self.key(event.model, failed)
                state.windows[failedKey, default: Window()].append(
                    Sample(time: event.time, isError: true, latency: nil, ttft: nil), horizon: state.horizon(of: failedKey))
            }
        }
    }

    /// Sets how long each judged version's outcomes are kept (the longest analysis window of the
    /// running rollouts that judge it) and drops what no one needs any more, including the windows
    /// of versions that stopped getting traffic.
    package func keep(windows: [(model: String, version: String, seconds: Double)], now: Double) {
        var horizons: [String: Double] = [:]
        for window in windows {
            for key in [Self.key(window.model, window.version), Self.key(window.model, window.version, shadow: true)] {
                horizons[key] = max(horizons[key] ?? Self.unwatchedHorizonSeconds, window.seconds)
            }
        }
        state.withLock { state in
            state.horizons = horizons
            for key in Array(state.windows.keys) {
                let oldest = now - state.horizon(of: key)
                if let newest = state.windows[key]?.newestTime, newest < oldest {
                    state.windows[key] = nil
                } else {
                    state.windows[key]?.drop(before: oldest)
                }
            }
        }
    }

    /// Samples held now, over all versions (tests and diagnostics).
    package var sampleCount: Int {
        state.withLock { state in state.windows.values.reduce(0) { $0 + $1.samples.count - $1.head } }
    }

    /// Outcomes of one version since `since` (seconds since 1970), of the requests it served or (`shadow`)
    /// of the copies it got. Client departures (499) are not the version's fault.
    package func window(model: String, version: String, since: Double, shadow: Bool = false) -> VersionWindow {
        let selected = state.withLock { state in state.windows[Self.key(model, version, shadow: shadow)]?.since(since) ?? [] }
        let agreements = selected.compactMap(\.agreement)
        return VersionWindow(
            requests: selected.count, errors: selected.filter(\.isError).count,
            p95LatencyMilliseconds: Statistics.percentile(selected.compactMap(\.latency), 0.95),
            p95TTFTMilliseconds: Statistics.percentile(selected.compactMap(\.ttft), 0.95),
            meanAgreement: agreements.isEmpty ? nil : agreements.reduce(0, +) / Double(agreements.count))
    }
}
