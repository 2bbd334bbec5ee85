import Foundation
import Hummingbird
import SwitchyardCore

/// `GET /api/usage`: requests, tokens and cost from the recorded outcomes, filtered and grouped.
package struct UsageAdminController: Sendable {
    let usage: any UsageRepository

    package func addRoutes(to router: Router<GatewayContext>) {
        router.get("/api/usage") { request, _ in
            let parameters = request.uri.queryParameters
            var query = UsageQuery(user: parameters.get("user"), model: parameters.get("model"))
            if let endpoint = parameters.get("endpoint") {
                let path = endpoint.hasPrefix("/v1/") ? String(endpoint.dropFirst(4)) : endpoint
                guard Endpoint(rawValue: path) != nil else {
                    throw AdminError.invalid(
                        "endpoint", "'endpoint' is one of \(Endpoint.allCases.map(\.rawValue).joined(separator: ", ")) (with or without /v1/).")
                }
                query.endpoint = path
            }
            query.from = try Self.time(parameters.get("from"), field: "from")
            query.to = try Self.time(parameters.get("to"), field: "to")
            if let grouping = parameters.get("group_by") {
                guard let parsed = UsageQuery.Grouping(rawValue: grouping) else {
                    throw AdminError.invalid(
                        "group_by", "'group_by' is one of \(UsageQuery.Grouping.allCases.map(\.rawValue).joined(separator: ", ")).")
                }
                query.groupBy = parsed
            }
            let rows: [JSONValue] = try await usage.usage(query).map { row in
                .object([
                    "key": .string(row.key), "requests": .number(Double(row.requests)), "errors": .number(Double(row.errors)),
                    "tokens_in": .number(Double(row.inputTokens)), "tokens_out": .number(Double(row.outputTokens)),
                    "cached_tokens_in": .number(Double(row.cachedInputTokens)), "cache_write_tokens_in": .number(Double(row.cacheWriteTokens)),
                    "cost_usd": .number(row.costUSD), "role": .string(row.shadow ? "shadow" : "primary"),
                ])
            }
            return Response.json(.object(["group_by": .string(query.groupBy.rawValue), "rows": .array(rows)]))
        }
    }

    /// Seconds since 1970 (up to the year 9999; never `nan` or `inf`), or an ISO 8601 date or time.
    static func time(_ text: String?, field: String) throws -> Double? {
        guard let text else { return nil }
        if let seconds = Double(text) {
            guard seconds.isFinite, (0...253_402_300_799).contains(seconds) else {
                throw AdminError.invalid(field, "'\(field)' must be seconds since 1970, up to the year 9999.")
            }
            return seconds
        }
        if let date = ISO8601DateFormatter().date(from: text) { return date.timeIntervalSince1970 }
        if let day = try? Date(text, strategy: .iso8601.year().month().day()) { return day.timeIntervalSince1970 }
        throw AdminError.invalid(field, "'\(field)' must be seconds since 1970 or an ISO 8601 date or time.")
    }
}
