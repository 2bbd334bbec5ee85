import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import SwitchyardCore

/// Rollouts through the admin API: start one on a model, read it, promote, pause, resume or abort it.
package struct RolloutAdminController: Sendable {
    let writer: ConfigurationWriter

    package func addRoutes(to router: Router<GatewayContext>) {
        let models = "/api/models/{model}"
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

    // MARK: JSON shapes

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
        ])
    }
}
