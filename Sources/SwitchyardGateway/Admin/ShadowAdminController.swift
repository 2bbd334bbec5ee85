import Foundation
import Hummingbird
import SwitchyardCore

/// A model's shadow through the admin API: show, change and stop it (each change audited), and
/// the shadow version's results against the primaries it copied.
package struct ShadowAdminController: Sendable {
    let writer: ConfigurationWriter
    let configuration: ConfigurationHolder
    let recorded: any ShadowRepository
    let traffic: ShadowTraffic
    /// Flushed before results are read, so copies that just ended are counted.
    let outcomes: any OutcomeSink

    /// Copies compared per request for results, newest first.
    static let maximumComparedCopies = 100_000
    static let defaultResultsWindowSeconds = 86_400.0

    package func addRoutes(to router: Router<GatewayContext>) {
        let shadow = "/api/models/{model}/shadow"
        router.get("\(shadow)") { request, context in
            let model = try await writer.mapErrors { try await writer.model(context.pathParameter("model")) }
            return Response.json(await state(of: model))
        }
        router.put("\(shadow)") { request, context in
            let actor = AdminAuthenticator.actor
            let spec = try AdminRequestBody.read(try await AdminRequestBody.jsonObject(request), ShadowSpec.read(from:))
            let model = try await writer.mapErrors {
                try await writer.change(model: context.pathParameter("model"), actor: actor, action: "set_shadow") { model throws(ReleaseError) in
                    _ = try model.versionIndex(spec.version, field: "version")
                    var changed = model
                    changed.shadow = spec
                    return changed
                }
            }
            return Response.json(await state(of: model))
        }
        router.delete("\(shadow)") { request, context in
            let actor = AdminAuthenticator.actor
            var model = try await writer.mapErrors { try await writer.model(context.pathParameter("model")) }
            // Stopping what is not there changes nothing, and writes no audit row saying it did.
            if model.shadow != nil {
                model = try await writer.mapErrors {
                    try await writer.change(model: model.name, actor: actor, action: "stop_shadow") { model throws(ReleaseError) in
                        var changed = model
                        changed.shadow = nil
                        return changed
                    }
                }
            }
            return Response.json(await state(of: model))
        }
        router.get("\(shadow)/results") { request, context in
            let model = try await writer.mapErrors { try await writer.model(context.pathParameter("model")) }
            let query = request.uri.queryParameters
            guard let version = query.get("version") ?? configuration.current.models[model.name]?.shadow?.spec.version ?? model.shadow?.version else {
                throw AdminError.invalid("version", "Model '\(model.name)' has no shadow; name the shadow version with 'version'.")
            }
            _ = try await writer.mapErrors { try model.versionIndex(version, field: "version") }
            let since =
                try UsageAdminController.time(query.get("since"), field: "since") ?? Date().timeIntervalSince1970 - Self.defaultResultsWindowSeconds
            try? await outcomes.flush()
            let pairs = try await recorded.shadowPairs(model: model.name, version: version, since: since, limit: Self.maximumComparedCopies)
            let examples = try await recorded.shadowExamples(model: model.name, version: version, limit: ShadowSpec.maximumKeptExamples)
            return Response.json(
                Self.results(
                    ShadowComparison(pairs), model: model.name, version: version, since: since, examples: examples,
                    copies: traffic.counts(model: model.name, version: version)))
        }
    }

    private func state(of model: ModelSpec) async -> JSONValue {
        let effective = configuration.current.models[model.name]?.shadow
        let fromRollout = await writer.activeRollout(of: model.name)?.currentShadowStep != nil
        return .object([
            "model": .string(model.name), "shadow": model.shadow.map(Self.json) ?? .null,
            "effective": effective.map { Self.json($0.spec) } ?? .null,
            "source": effective == nil ? .null : .string(fromRollout ? "rollout" : "model"),
            "in_flight": .number(Double(traffic.open(model: model.name))),
        ])
    }

    static func json(_ spec: ShadowSpec) -> JSONValue {
        .object([
            "version": .string(spec.version), "share": .number(Double(spec.shareBasisPoints) / 100),
            "max_in_flight": .number(Double(spec.maxInFlight)), "keep_examples": .number(Double(spec.keepExamples)),
        ])
    }

    static func results(
        _ comparison: ShadowComparison, model: String, version: String, since: Double, examples: [ShadowExampleRecord],
        copies: [ShadowTraffic.Result: Int]
    ) -> JSONValue {
        func number(_ value: Double?) -> JSONValue { value.map(JSONValue.number) ?? .null }
        func side(_ side: ShadowComparison.Side) -> JSONValue {
            .object([
                "requests": .number(Double(side.requests)), "errors": .number(Double(side.errors)), "error_rate": number(side.errorRate),
                "p50_latency_ms": number(side.p50LatencyMilliseconds), "p95_latency_ms": number(side.p95LatencyMilliseconds),
                "p50_ttft_ms": number(side.p50TTFTMilliseconds), "p95_ttft_ms": number(side.p95TTFTMilliseconds),
                "tokens_per_request": number(side.tokensPerRequest), "cost_per_request_usd": number(side.costPerRequestUSD),
            ])
        }
        let shadow = comparison.shadow
        let primary = comparison.primary
        let agreement = comparison.agreement
        return .object([
            "model": .string(model), "version": .string(version), "since": .number(since),
            "copies_since_start": .object(
                Dictionary(
                    uniqueKeysWithValues: [ShadowTraffic.Result.sent, .droppedInFlight, .droppedNoBackend].map {
                        ($0.rawValue, JSONValue.number(Double(copies[$0] ?? 0)))
                    })),
            "shadow": side(shadow), "primary": side(primary),
            "ratios": .object([
                "p50_latency": number(ShadowComparison.ratio(shadow.p50LatencyMilliseconds, primary.p50LatencyMilliseconds)),
                "p95_latency": number(ShadowComparison.ratio(shadow.p95LatencyMilliseconds, primary.p95LatencyMilliseconds)),
                "p50_ttft": number(ShadowComparison.ratio(shadow.p50TTFTMilliseconds, primary.p50TTFTMilliseconds)),
                "p95_ttft": number(ShadowComparison.ratio(shadow.p95TTFTMilliseconds, primary.p95TTFTMilliseconds)),
                "tokens_per_request": number(ShadowComparison.ratio(shadow.tokensPerRequest, primary.tokensPerRequest)),
                "cost_per_request": number(ShadowComparison.ratio(shadow.costPerRequestUSD, primary.costPerRequestUSD)),
            ]),
            "agreement": .object([
                "measure": .string("token_dice"), "compared": .number(Double(agreement.compared)),
                "exact_match_rate": number(agreement.exactMatchRate), "mean_similarity": number(agreement.meanSimilarity),
                "p10_similarity": number(agreement.p10Similarity), "p50_similarity": number(agreement.p50Similarity),
                "p90_similarity": number(agreement.p90Similarity),
                "histogram": .array(agreement.histogram.map { .number(Double($0)) }),
            ]),
            "examples": .array(
                examples.map { example in
                    .object([
                        "request_id": .string(example.requestID), "time": .number(example.time), "similarity": .number(example.similarity),
                        "primary": .string(example.primaryText), "shadow": .string(example.shadowText),
                    ])
                }),
        ])
    }
}
