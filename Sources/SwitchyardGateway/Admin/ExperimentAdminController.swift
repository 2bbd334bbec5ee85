import Foundation
import Hummingbird
import SwitchyardCore

/// `/api/experiments`: create, list, start / pause / complete, delete, results and feedback.
package struct ExperimentAdminController: Sendable {
    let writer: ConfigurationWriter
    let recorded: any ExperimentRepository
    /// Flushed before a feedback lookup misses, so a request answered a moment ago is found.
    let outcomes: any OutcomeSink

    package func addRoutes(to router: Router<GatewayContext>) {
        router.post("/api/experiments") { request, _ in
            let actor = AdminAuthenticator.actor
            let spec = try AdminRequestBody.read(try await AdminRequestBody.jsonObject(request), ExperimentRequest.read(from:))
            let experiment = try await writer.mapErrors { try await writer.createExperiment(spec, actor: actor) }
            return Response.json(Self.json(experiment), status: .created)
        }
        router.get("/api/experiments") { request, _ in
            let query = request.uri.queryParameters
            var status: Experiment.Status?
            if let text = query.get("status") {
                guard let parsed = Experiment.Status(rawValue: text) else {
                    throw AdminError.invalid("status", "'status' is one of \(Experiment.Status.allCases.map(\.rawValue).joined(separator: ", ")).")
                }
                status = parsed
            }
            let limit = try Self.integer(query.get("limit"), field: "limit", in: 1...1_000) ?? 100
            let offset = try Self.integer(query.get("offset"), field: "offset", in: 0...1_000_000_000) ?? 0
            let found = await writer.experiments(status: status, model: query.get("model"), createdBy: query.get("created_by"))
            return Response.json(
                .object([
                    "experiments": .array(found.dropFirst(offset).prefix(limit).map(Self.json)), "total": .number(Double(found.count)),
                    "limit": .number(Double(limit)), "offset": .number(Double(offset)),
                ]))
        }
        router.get("/api/experiments/{id}") { request, context in
            let id = try context.pathParameter("id")
            return Response.json(Self.json(try await writer.mapErrors { try await writer.experiment(id) }))
        }
        router.delete("/api/experiments/{id}") { request, context in
            let actor = AdminAuthenticator.actor
            let id = try context.pathParameter("id")
            try await writer.mapErrors { try await writer.deleteExperiment(id, actor: actor) }
            return Response(status: .noContent)
        }
        for transition in Experiment.Transition.allCases {
            router.post("/api/experiments/{id}/\(transition.rawValue)") { request, context in
                let actor = AdminAuthenticator.actor
                let id = try context.pathParameter("id")
                let body = try await AdminRequestBody.jsonObject(request)
                if let unknown = body.keys.sorted().first {
                    throw AdminError(status: .unprocessableContent, message: "Unknown field '\(unknown)'; this call takes no body.", field: unknown)
                }
                let experiment = try await writer.mapErrors { try await writer.transition(id, transition, actor: actor) }
                return Response.json(Self.json(experiment))
            }
        }
        router.get("/api/experiments/{id}/results") { request, context in
            let id = try context.pathParameter("id")
            let experiment = try await writer.mapErrors { try await writer.experiment(id) }
            let results = ExperimentResults(experiment: experiment, totals: try await recorded.experimentTotals(id))
            return Response.json(Self.json(results, of: experiment))
        }
        router.post("/api/experiments/{id}/feedback") { request, context in
            let id = try context.pathParameter("id")
            let experiment = try await writer.mapErrors { try await writer.experiment(id) }
            let (requestID, score, user) = try AdminRequestBody.read(try await AdminRequestBody.jsonObject(request)) {
                table -> (String, Double, String?)? in
                let requestID = table.requiredString("request_id")
                let score = table.values["score"] == nil ? nil : table.number("score", in: -1e12...1e12)
                if table.values["score"] == nil { table.fail("score", "is required") }
                let user = table.string("user")
                table.rejectUnknownKeys()
                guard let requestID, let score else { return nil }
                return (requestID, score, user)
            }
            var assignment = try await recorded.assignment(ofRequest: requestID)
            if assignment == nil {
                try await outcomes.flush()
                assignment = try await recorded.assignment(ofRequest: requestID)
            }
            guard let assignment, assignment.experiment == experiment.id else {
                throw AdminError.notFound("Request '\(requestID)' of experiment \(experiment.id)", field: "request_id")
            }
            let feedback = ExperimentFeedback(
                experiment: experiment.id, variant: assignment.variant, requestID: requestID, score: score, user: user,
                time: ConfigurationWriter.now())
            try await recorded.saveFeedback(feedback)
            return Response.json(
                .object([
                    "experiment": .string(experiment.id), "variant": .string(feedback.variant), "request_id": .string(requestID),
                    "score": .number(score), "user": user.map(JSONValue.string) ?? .null,
                ]), status: .created)
        }
    }

    /// A whole-number query parameter within `range`, or `nil` when absent; 400 naming `field` otherwise.
    static func integer(_ text: String?, field: String, in range: ClosedRange<Int>) throws -> Int? {
        guard let text else { return nil }
        guard let value = Int(text), range.contains(value) else {
            throw AdminError.invalid(field, "'\(field)' must be a whole number from \(range.lowerBound) to \(range.upperBound).")
        }
        return value
    }

    // MARK: JSON shapes

    static func json(_ experiment: Experiment) -> JSONValue {
        func time(_ value: Double?) -> JSONValue { value.map(JSONValue.number) ?? .null }
        let variants: [JSONValue] = zip(experiment.variants, experiment.shares).map { variant, share in
            var object: [String: JSONValue] = [
                "id": .string(variant.id), "name": .string(variant.name), "weight": .number(variant.weight), "share": .number(share),
                "description": .string(variant.description),
            ]
            switch variant.target {
            case .version(let version): object["version"] = .string(version)
            case .model(let model): object["model"] = .string(model)
            }
            return .object(object)
        }
        return .object([
            "id": .string(experiment.id), "name": .string(experiment.name), "description": .string(experiment.description),
            "model": .string(experiment.model), "strategy": .string(experiment.strategy.rawValue),
            "hash_seed": .string(experiment.effectiveHashSeed), "start_time": time(experiment.startTime), "end_time": time(experiment.endTime),
            "min_samples": .number(Double(experiment.minSamples)), "variants": .array(variants), "control": .string(experiment.control),
            "created_by": .string(experiment.createdBy), "status": .string(experiment.status.rawValue),
            "created_at": .number(experiment.createdAt), "updated_at": .number(experiment.updatedAt), "started_at": time(experiment.startedAt),
            "completed_at": time(experiment.completedAt),
        ])
    }

    static func json(_ results: ExperimentResults, of experiment: Experiment) -> JSONValue {
        func number(_ value: Double?) -> JSONValue { value.map(JSONValue.number) ?? .null }
        func interval(_ range: ClosedRange<Double>?) -> JSONValue {
            range.map { .array([.number($0.lowerBound), .number($0.upperBound)]) } ?? .null
        }
        let variants: [JSONValue] = results.variants.map { result in
            let totals = result.totals
            let comparisons: [JSONValue] = result.comparisons.map { comparison in
                .object([
                    "metric": .string(comparison.metric), "test": .string(comparison.test), "control": number(comparison.control),
                    "variant": number(comparison.variant), "difference": number(comparison.difference),
                    "relative_effect": number(comparison.relativeEffect), "relative_effect_ci95": interval(comparison.relativeInterval),
                    "statistic": number(comparison.statistic), "p_value": number(comparison.pValue), "significant": .bool(comparison.significant),
                    "more_requests_needed": comparison.moreRequestsNeeded.map { .number(Double($0)) } ?? .null,
                    "verdict": .string(comparison.verdict),
                ])
            }
            return .object([
                "id": .string(result.variant.id), "name": .string(result.variant.name), "is_control": .bool(result.isControl),
                "share": .number(result.share), "requests": .number(Double(totals.requests)), "successes": .number(Double(result.successes)),
                "failures": .number(Double(totals.errors)), "success_rate": number(result.successRate),
                "success_rate_ci95": interval(result.successRateInterval),
                "latency_ms": .object([
                    "mean": number(totals.latency.mean), "p50": number(totals.latencyHistogram.quantileEstimate(0.5)),
                    "p95": number(totals.latencyHistogram.quantileEstimate(0.95)),
                ]),
                "ttft_ms": .object([
                    "count": .number(Double(totals.ttftCount)),
                    "mean": number(totals.ttftCount > 0 ? totals.ttftSum / Double(totals.ttftCount) : nil),
                    "p50": number(totals.ttftHistogram.quantileEstimate(0.5)), "p95": number(totals.ttftHistogram.quantileEstimate(0.95)),
                ]),
                "tokens_in": .number(Double(totals.inputTokens)), "tokens_out": .number(Double(totals.outputTokens)),
                "cached_tokens_in": .number(Double(totals.cachedInputTokens)),
                "cache_write_tokens_in": .number(Double(totals.cacheWriteTokens)),
                "cost_usd": .number(totals.cost.sum), "cost_per_request_usd": number(totals.cost.mean),
                "cost_per_1k_tokens_usd": number(result.costPer1KTokens),
                "feedback": .object(["count": .number(Double(totals.feedback.count)), "mean": number(totals.feedback.mean)]),
                "comparisons": .array(comparisons),
            ])
        }
        let observed = results.variants.map { JSONValue.number(Double($0.totals.requests)) }
        return .object([
            "experiment": json(experiment), "trustworthy": .bool(results.trustworthy), "summary": .string(results.summary),
            "min_samples": .number(Double(experiment.minSamples)), "significance_level": .number(ExperimentResults.significanceLevel),
            "sample_ratio": .object([
                "observed": .array(observed), "expected_shares": .array(experiment.shares.map(JSONValue.number)),
                "chi_square": number(results.sampleRatio?.chiSquare), "p_value": number(results.sampleRatio?.pValue),
                "mismatch": .bool(results.sampleRatio?.mismatch ?? false), "threshold": .number(ExperimentResults.sampleRatioThreshold),
            ]),
            "variants": .array(variants),
            "notes": .string(
                "p50/p95 are estimated from histogram buckets; means, tests and intervals use exact running sums. "
                    + "Requests served by a fallback still count for the variant they were assigned."),
        ])
    }
}
