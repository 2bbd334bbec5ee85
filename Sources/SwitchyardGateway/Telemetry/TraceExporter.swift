import AsyncHTTPClient
import Logging
import NIOCore
import NIOHTTP1
import Prometheus
import ServiceLifecycle
import SwitchyardCore
import Synchronization

/// Sends the spans of finished requests to an OTLP/HTTP collector (`[telemetry] otlp_endpoint`):
/// queued as outcomes pass, encoded and posted once a second by its own task, never on the request
/// path. The queue is bounded; what does not fit, and what a collector does not take, is dropped
/// and counted (`switchyard_trace_spans_dropped_total`), never retried into a growing backlog.
package final class TraceExporter: OutcomeSink, Service {
    /// Requests (each a server span and its attempts' client spans) waiting for the next export.
    static let queueCapacity = 4096
    static let batchSize = 512

    private let next: any OutcomeSink
    private let url: String
    private let headers: [(String, String)]
    private let encoder: OTLPTraceEncoder
    private let client: HTTPClient
    private let interval: Duration
    private let logger: Logger
    private let queue = Mutex<[OutcomeEvent]>([])
    private let lastFailureLog = Mutex<ContinuousClock.Instant?>(nil)

    private let exported: Counter
    private let droppedQueueFull: Counter
    private let droppedExportFailed: Counter

    package init(
        telemetry: TelemetrySpec, tracesURL: String, environment: [String: String], client: HTTPClient, registry: PrometheusCollectorRegistry,
        interval: Duration = .seconds(1), logger: Logger, forwardingTo next: any OutcomeSink
    ) {
        self.next = next
        self.url = tracesURL
        self.headers = telemetry.headers.sorted { $0.key < $1.key }.compactMap { name, value in
            value.resolvedHeaderValue(in: environment).map { (name, $0) }
        }
        self.encoder = OTLPTraceEncoder(
            serviceName: telemetry.serviceName, serviceVersion: SwitchyardVersion.current, instanceID: Self.instanceID())
        self.client = client
        self.interval = interval
        self.logger = logger
        let dropped = GatewayMetrics.descriptor(
            "switchyard_trace_spans_dropped", "total", "Spans not exported: the queue was full, or the collector failed or refused them.")
        exported = registry.makeCounter(
            descriptor: GatewayMetrics.descriptor("switchyard_trace_spans_exported", "total", "Spans a collector accepted."), labels: [])
        droppedQueueFull = registry.makeCounter(descriptor: dropped, labels: [("reason", "queue_full")])
        droppedExportFailed = registry.makeCounter(descriptor: dropped, labels: [("reason", "export_failed")])
    }

    package func record(_ event: OutcomeEvent) {
        next.record(event)
        guard event.trace != nil else { return }
        let queued = queue.withLock { queue in
            guard queue.count < Self.queueCapacity else { return false }
            queue.append(event)
            return true
        }
        if !queued { droppedQueueFull.increment(by: Int64(OTLPTraceEncoder.spanCount(CollectionOfOne(event)))) }
    }

    package func run() async throws {
        logger.info("exporting traces", metadata: ["otlp.url": .string(url), "service.name": .string(encoder.serviceName)])
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            try? await cancelWhenGracefulShutdown { [interval] in try await Task.sleep(for: interval) }
            await exportQueued()
        }
        await exportQueued()
    }

    /// Posts everything queued now, in batches.
    package func exportQueued() async {
        while true {
            let batch = queue.withLock { queue in
                let batch = Array(queue.prefix(Self.batchSize))
                queue.removeFirst(batch.count)
                return batch
            }
            guard !batch.isEmpty else { return }
            let spans = OTLPTraceEncoder.spanCount(batch)
            do {
                try await post(encoder.encode(batch))
                exported.increment(by: Int64(spans))
            } catch {
                droppedExportFailed.increment(by: Int64(spans))
                logFailure(error, spans: spans)
                // The collector is down: what is still queued waits for the next interval rather than
                // adding a timeout per batch now.
                return
            }
        }
    }

    private func post(_ body: [UInt8]) async throws {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "content-type", value: "application/x-protobuf")
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(bytes: body))
        let response = try await client.execute(request, timeout: .seconds(10))
        _ = try await response.body.collect(upTo: 1 << 20)
        guard (200..<300).contains(response.status.code) else { throw ExportRefused(status: Int(response.status.code)) }
    }

    /// At most one warning a minute while a collector fails.
    private func logFailure(_ error: any Error, spans: Int) {
        let now = ContinuousClock.now
        let shouldLog = lastFailureLog.withLock { last in
            if let last, now - last < .seconds(60) { return false }
            last = now
            return true
        }
        guard shouldLog else { return }
        logger.warning(
            "trace export failed; spans dropped", metadata: ["otlp.url": .string(url), "spans": "\(spans)", "error": "\(error)"])
    }

    private struct ExportRefused: Error, CustomStringConvertible {
        var status: Int
        var description: String { "the collector answered HTTP \(status)" }
    }

    /// Random, per process: a restarted gateway is a new instance.
    private static func instanceID() -> String {
        var random = SystemRandomNumberGenerator()
        return (0..<2).map { _ in String(random.next() as UInt64, radix: 16) }.joined(separator: "-")
    }
}
