import Foundation
import Logging
import SwitchyardCore

/// One access line per relayed request, at `info`: who, what, where it went, how it ended, what it
/// cost. Never the prompt, the answer or a token.
package final class AccessLog: OutcomeSink {
    private let logger: Logger
    private let next: any OutcomeSink

    package init(logger: Logger, forwardingTo next: any OutcomeSink) {
        var logger = logger
        logger[metadataKey: "log.type"] = "access"
        self.logger = logger
        self.next = next
    }

    package func record(_ event: OutcomeEvent) {
        next.record(event)
        logger.info(
            event.shadow ? "shadow copy" : "request",
            metadata: [
                "request.id": .string(event.requestID), "trace.id": .string(event.traceID ?? ""), "user": .string(event.userID),
                "model": .string(event.model), "version": .string(event.version), "backend": .string(event.backend),
                "endpoint": .string(event.endpoint), "status": .stringConvertible(event.status), "stream": .stringConvertible(event.stream),
                "latency_ms": .string(String(format: "%.1f", event.latencyMilliseconds)),
                "ttft_ms": .string(event.timeToFirstTokenMilliseconds.map { String(format: "%.1f", $0) } ?? ""),
                "tokens.in": .stringConvertible(event.inputTokens), "tokens.out": .stringConvertible(event.outputTokens),
                "cost_usd": .string(String(format: "%.6f", event.costUSD)), "failovers": .stringConvertible(event.failovers),
                "error": .string(event.error ?? ""),
            ])
    }
}
