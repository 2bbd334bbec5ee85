import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import SwitchyardCore

/// What the gateway is and has done: `/api/system` (version, uptime, database, counts) and
/// `/api/stats/timeseries` (traffic over time from the per-minute rollups).
package struct SystemAdminController: Sendable {
    let writer: ConfigurationWriter
    let stats: any StatsRepository
    let databasePath: String?
    let startedAt: Double
    /// `nil`: the only instance, so the controller.
    var election: (any ControllerElection)? = nil

    package func addRoutes(to router: Router<GatewayContext>) {
        router.get("/api/stats/timeseries") { request, _ in
            let query = try Self.timeseriesQuery(request)
            let points = try await stats.timeseries(query)
            return Response.json(
                .object([
                    "from": .number(query.from), "to": .number(query.to), "step": .number(Double(query.step)),
                    "points": .array(points.map(Self.json)),
                ]))
        }
        router.get("/api/system") { request, _ in
            let counts = await writer.counts
            let now = Date().timeIntervalSince1970
            return Response.json(
                .object([
                    "version": .string(SwitchyardVersion.current), "started_at": .number(startedAt), "uptime_seconds": .number(now - startedAt),
                    "controller": .bool(election?.isController ?? true),
                    "database": .object([
                        "path": databasePath.map(JSONValue.string) ?? .null,
                        "size_bytes": Self.fileSize(databasePath).map { .number(Double($0)) } ?? .null,
                    ]),
                    "counts": .object([
                        "providers": .number(Double(counts.providers)), "models": .number(Double(counts.models)),
                        "users": .number(Double(counts.users)), "experiments": .number(Double(counts.experiments)),
                        "running_rollouts": .number(Double(counts.runningRollouts)),
                    ]),
                ]))
        }
    }

    static func timeseriesQuery(_ request: Request) throws -> TimeseriesQuery {
        let parameters = request.uri.queryParameters
        let now = Date().timeIntervalSince1970
        // Seconds from 1970 to the year 9999, as everywhere else; anything else cannot be a bucket.
        let years = 0.0...253_402_300_799
        let to = try UsageAdminController.time(parameters.get("to"), field: "to") ?? now
        guard years.contains(to) else { throw AdminError.invalid("to", "'to' must lie between 1970 and 9999.") }
        let from = try UsageAdminController.time(parameters.get("from"), field: "from") ?? to - 3_600
        guard years.contains(from) else { throw AdminError.invalid("from", "'from' must lie between 1970 and 9999.") }
        var step = 60
        if let text = parameters.get("step") {
            guard let value = Int(text), value >= 60, value % 60 == 0 else {
                throw AdminError.invalid("step", "'step' is a whole number of seconds, a multiple of 60.")
            }
            step = value
        }
        guard from < to else { throw AdminError.invalid("from", "'from' must be before 'to'.") }
        // Buckets start on whole minutes, as the rollups do.
        let start = (from / 60).rounded(.down) * 60
        let query = TimeseriesQuery(
            model: parameters.get("model"), version: parameters.get("version"), backend: parameters.get("backend"), from: start, to: to, step: step)
        guard query.count <= 1_440 else {
            throw AdminError.invalid("step", "At most 1440 buckets: widen 'step' or narrow 'from'…'to' (\(query.count) asked).")
        }
        return query
    }

    static func fileSize(_ path: String?) -> Int? {
        guard let path else { return nil }
        let sizes = [path, path + "-wal"].compactMap { (try? FileManager.default.attributesOfItem(atPath: $0))?[.size] as? Int }
        return sizes.isEmpty ? nil : sizes.reduce(0, +)
    }

    // MARK: JSON shapes

    static func json(_ point: TimeseriesPoint) -> JSONValue {
        func number(_ value: Double?) -> JSONValue { value.map(JSONValue.number) ?? .null }
        return .object([
            "time": .number(point.time), "requests": .number(Double(point.requests)), "errors": .number(Double(point.errors)),
            "error_rate": point.requests > 0 ? .number(Double(point.errors) / Double(point.requests)) : .null,
            "latency_p50_ms": number(point.latency.quantileEstimate(0.5)), "latency_p95_ms": number(point.latency.quantileEstimate(0.95)),
            "ttft_p50_ms": number(point.ttft.quantileEstimate(0.5)), "ttft_p95_ms": number(point.ttft.quantileEstimate(0.95)),
            "tokens_in": .number(Double(point.inputTokens)), "tokens_out": .number(Double(point.outputTokens)), "cost_usd": .number(point.costUSD),
        ])
    }
}
