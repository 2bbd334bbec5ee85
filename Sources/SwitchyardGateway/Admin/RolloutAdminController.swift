import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import SwitchyardCore

/// Rollouts through the admin API: start one on a model, list them, read one, promote, pause, resume or abort it.
package struct RolloutAdminController: Sendable {
    let writer: ConfigurationWriter

    /// Rollouts a list page holds when the request does not say.
    static let defaultPageSize = 50
    static let maxPageSize = 500

    package func addRoutes(to router: Router<GatewayContext>) {
        let models = "/api/models/{model}"
        router.get("/api/rollouts") { request, _ in
            try await list(request, model: request.uri.queryParameters.get("model"))
        }
        router.get("\(models)/rollouts") { request, context in
            // A disabled model's history is listed too; a deleted model's is found with /api/rollouts?model=.
            let name = try context.pathParameter("model")
            guard await writer.configuration.models.contains(where: { $0.name == name }) else {
                throw AdminError.notFound("Model '\(name)'", field: "model")
            }
            return try await list(request, model: name)
        }
        router.post("\(models)/rollouts") { request, context in
            let actor = AdminAuthenticator.actor
            let spec = try AdminRequestBody.read(try await AdminRequestBody.jsonObject(request), RolloutRequest.read(from:))
            let rollout = try await writer.mapErrors {
                try await writer.startRollout(
                    model: context.pathParameter("model"), canary: spec.canary, steps: spec.steps, analysis: spec.analysis, actor: actor)
            }
            return Response.json(Self.json(rollout), status: .created)
        }
        router.get("/api/rollouts/{id}") { request, context in
            let id = try context.pathParameter("id")
            guard let rollout = try await writer.rollout(id) else { throw AdminError.notFound("Rollout '\(id)'", field: "id") }
            return Response.json(Self.json(rollout))
        }
        for control in [ConfigurationWriter.Control.promote, .pause, .resume, .abort] {
            router.post("/api/rollouts/{id}/\(control.rawValue)") { request, context in
                let actor = AdminAuthenticator.actor
                let full = request.uri.queryParameters.get("full") == "true"
                let rollout = try await writer.mapErrors {
                    try await writer.control(context.pathParameter("id"), control, full: full, actor: actor)
                }
                return Response.json(Self.json(rollout))
            }
        }
    }

    /// A page of rollouts, newest first: `{"rollouts": [...], "next": cursor or null}`; `next` goes back as `before`.
    private func list(_ request: Request, model: String?) async throws -> Response {
        let parameters = request.uri.queryParameters
        var state: Rollout.State?
        if let text = parameters.get("state") {
            guard let parsed = Rollout.State(rawValue: text) else {
                throw AdminError.invalid("state", "'state' is one of \(Rollout.State.allCases.map(\.rawValue).joined(separator: ", ")).")
            }
            state = parsed
        }
        let since = try UsageAdminController.time(parameters.get("since"), field: "since")
        let limit = try ExperimentAdminController.integer(parameters.get("limit"), field: "limit", in: 1...Self.maxPageSize) ?? Self.defaultPageSize
        let before = try Self.cursor(parameters.get("before"))
        // One more than the page: whether it exists says whether there is a next page.
        let found = try await writer.rolloutSummaries(RolloutQuery(model: model, state: state, since: since, after: before, limit: limit + 1))
        let page = found.prefix(limit)
        let next = found.count > limit ? page.last.map { Self.text($0.cursor) } : nil
        return Response.json(.object(["rollouts": .array(page.map(Self.json)), "next": next.map(JSONValue.string) ?? .null]))
    }

    /// A cursor as the API shows it: opaque to clients (base64url of the start time and the id).
    static func text(_ cursor: RolloutCursor) -> String {
        Data("\(cursor.startedAt) \(cursor.id)".utf8).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    /// The cursor a `before` parameter carries; 400 naming `before` for anything but a `next` this API gave.
    static func cursor(_ text: String?) throws -> RolloutCursor? {
        guard let text else { return nil }
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        guard let data = Data(base64Encoded: base64), let decoded = String(data: data, encoding: .utf8),
            let space = decoded.firstIndex(of: " "), let startedAt = Double(decoded[..<space]), startedAt.isFinite,
            case let id = String(decoded[decoded.index(after: space)...]), !id.isEmpty
        else {
            throw AdminError.invalid("before", "'before' must be the 'next' of an earlier page, as given.")
        }
        return RolloutCursor(startedAt: startedAt, id: id)
    }

    // MARK: JSON shapes

    static func json(_ summary: RolloutSummary) -> JSONValue {
        .object([
            "id": .string(summary.id), "model": .string(summary.model), "canary": .string(summary.canary), "stable": .string(summary.stable),
            "state": .string(summary.state.rawValue), "reason": summary.reason.map(JSONValue.string) ?? .null,
            "started_at": .number(summary.startedAt), "ended_at": summary.endedAt.map(JSONValue.number) ?? .null,
            "current_step": .number(Double(summary.currentStep)), "steps_reached": .number(Double(summary.stepsReached)),
            "step_count": .number(Double(summary.stepCount)), "canary_weight": .number(Double(summary.canaryWeightBasisPoints) / 100),
            "evaluation_count": .number(Double(summary.evaluationCount)),
            "shadow": summary.shadowVerdict.map(JSONValue.string) ?? .null,
        ])
    }

    static func json(_ rollout: Rollout) -> JSONValue {
        let steps: [JSONValue] = rollout.steps.map { step in
            switch step {
            case .setWeight(let points): return .object(["set_weight": .number(Double(points) / 100)])
            case .pause(let seconds?): return .object(["pause": .string(Duration.text(seconds: seconds))])
            case .pause(nil): return .object(["pause": .object([:])])
            case .shadow(let shadow):
                return .object([
                    "shadow": .object([
                        "share": .number(Double(shadow.shareBasisPoints) / 100), "duration": .string(Duration.text(seconds: shadow.durationSeconds)),
                        "min_requests": .number(Double(shadow.minRequests)),
                    ])
                ])
            }
        }
        func window(_ window: VersionWindow) -> JSONValue {
            .object([
                "requests": .number(Double(window.requests)), "errors": .number(Double(window.errors)),
                "error_rate": window.errorRate.map(JSONValue.number) ?? .null,
                "p95_latency_ms": window.p95LatencyMilliseconds.map(JSONValue.number) ?? .null,
                "p95_ttft_ms": window.p95TTFTMilliseconds.map(JSONValue.number) ?? .null,
                "mean_agreement": window.meanAgreement.map(JSONValue.number) ?? .null,
            ])
        }
        let evaluations: [JSONValue] = rollout.evaluations.map { evaluation in
            .object([
                "time": .number(evaluation.time), "step": .number(Double(evaluation.step)), "result": .string(evaluation.result),
                "decision": .string(evaluation.decision), "canary": window(evaluation.canary), "stable": window(evaluation.stable),
                "checks": .array(
                    evaluation.checks.map { check in
                        .object([
                            "name": .string(check.name), "measured": check.measured.map(JSONValue.number) ?? .null,
                            "threshold": .number(check.threshold), "p_value": check.pValue.map(JSONValue.number) ?? .null,
                            "passed": .bool(check.passed),
                        ])
                    }),
            ])
        }
        let analysis = rollout.analysis
        return .object([
            "id": .string(rollout.id), "model": .string(rollout.model), "canary": .string(rollout.canary), "stable": .string(rollout.stable),
            "state": .string(rollout.state.rawValue), "reason": rollout.reason.map(JSONValue.string) ?? .null,
            "current_step": .number(Double(rollout.currentStep)), "canary_weight": .number(Double(rollout.canaryWeightBasisPoints) / 100),
            "steps": .array(steps), "shadow_verdict": rollout.shadowVerdict.map(JSONValue.string) ?? .null,
            "analysis": .object([
                "interval": .string(Duration.text(seconds: analysis.intervalSeconds)),
                "window": .string(Duration.text(seconds: analysis.windowSeconds)),
                "min_requests": .number(Double(analysis.minRequests)), "max_error_rate": analysis.maxErrorRate.map(JSONValue.number) ?? .null,
                "max_p95_latency_ms": analysis.maxP95LatencyMilliseconds.map(JSONValue.number) ?? .null,
                "max_p95_ttft_ms": analysis.maxP95TTFTMilliseconds.map(JSONValue.number) ?? .null,
                "max_error_rate_increase": analysis.maxErrorRateIncrease.map(JSONValue.number) ?? .null,
                "max_latency_ratio": analysis.maxLatencyRatio.map(JSONValue.number) ?? .null,
                "min_agreement": analysis.minAgreement.map(JSONValue.number) ?? .null,
                "significance": .number(analysis.significance), "failure_limit": .number(Double(analysis.failureLimit)),
            ]),
            "evaluations": .array(evaluations), "created_at": .number(rollout.createdAt), "updated_at": .number(rollout.updatedAt),
            "ended_at": rollout.endedAt.map(JSONValue.number) ?? .null,
        ])
    }
}
