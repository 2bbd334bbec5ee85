import SwitchyardCore
import Synchronization

/// The last outcomes of every model version, in memory, for rollout analysis; passes every event
/// on to the durable sink. Bounded per version.
package final class RecentOutcomes: OutcomeSink {
    package static let perVersionLimit = 50_000

    private struct Sample {
        var time: Double
        var isError: Bool
        /// `nil` for a failure without a served answer of this version.
        var latency: Double?
        var ttft: Double?
    }

    /// The newest samples of one version, oldest overwritten first.
    private struct Ring {
        var samples: [Sample] = []
        var next = 0

        mutating func append(_ sample: Sample) {
            if samples.count < RecentOutcomes.perVersionLimit {
                samples.append(sample)
            } else {
                samples[next] = sample
                next = (next + 1) % samples.count
            }
        }
    }

    private let next: any OutcomeSink
    private let samples = Mutex<[String: Ring]>([:])

    package init(forwardingTo next: any OutcomeSink) {
        self.next = next
    }

    private static func key(_ model: String, _ version: String) -> String {
        model + "\u{0}" + version
    }

    package func record(_ event: OutcomeEvent) {
        next.record(event)
        guard !event.version.isEmpty else { return }
        let sample = Sample(
            time: event.time, isError: event.isError && event.status != 499, latency: event.latencyMilliseconds,
            ttft: event.timeToFirstTokenMilliseconds)
        let key = Self.key(event.model, event.version)
        samples.withLock { samples in
            samples[key, default: Ring()].append(sample)
            // A version that could not serve (its backends' circuits open) failed this request.
            if let failed = event.fellBackFrom, event.status != 499 {
                samples[Self.key(event.model, failed), default: Ring()].append(Sample(time: event.time, isError: true, latency: nil, ttft: nil))
            }
        }
    }

    /// Outcomes of one version since `since` (seconds since 1970). Client departures (499) are not the version's fault.
    package func window(model: String, version: String, since: Double) -> VersionWindow {
        let selected = samples.withLock { samples in
            (samples[Self.key(model, version)]?.samples ?? []).filter { $0.time >= since }
        }
        return VersionWindow(
            requests: selected.count, errors: selected.filter(\.isError).count,
            p95LatencyMilliseconds: Statistics.percentile(selected.compactMap(\.latency), 0.95),
            p95TTFTMilliseconds: Statistics.percentile(selected.compactMap(\.ttft), 0.95))
    }
}
