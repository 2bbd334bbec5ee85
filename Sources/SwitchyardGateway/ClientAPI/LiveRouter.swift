import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import NIOHTTP1
import SwitchyardCore

/// Routing with the live health view, for the client API and the admin dry run, and the request
/// conventions both read (forwarded headers, conversation headers, exclusions, estimates).
package struct LiveRouter: Sendable {
    let health: HealthRegistry

    package init(health: HealthRegistry) {
        self.health = health
    }

    /// Routes with the live health view; the same call answers `POST /api/routing/decide`, which
    /// passes `dryRun` so that explaining does not move round-robin turns. Only the dry run builds the
    /// explanation (reason and candidates): serving a request needs the decision alone.
    func route(
        _ request: RouteRequest, in configuration: EffectiveConfiguration, dryRun: Bool = false, using random: inout SplitMix64
    ) throws -> RouteDecision {
        let now = HealthRegistry.now()
        let model = configuration.models[request.model]
        let strategy = request.strategyOverride ?? model?.strategy
        let turn = strategy == .roundRobin ? health.nextTurn(for: request.model, advance: !dryRun) : 0
        let rotatesVersions = model.map { $0.releaseStrategy == .roundRobin && !$0.hasActiveRollout } ?? false
        let versionTurn = rotatesVersions ? health.nextTurn(for: "versions\u{0}" + request.model, advance: !dryRun) : 0
        do {
            return try RequestRouter().route(
                request, in: configuration, health: { health.status(of: $0, now: now) }, turn: turn, versionTurn: versionTurn, explain: dryRun,
                using: &random)
        } catch {
            throw Self.gatewayError(for: error)
        }
    }

    static func excludedProviders(_ header: String?) -> Set<String> {
        Set((header ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty })
    }

    /// Prompt tokens from the text size (about four characters a token); output from `max_tokens`, else 256.
    static func estimate(_ body: [String: JSONValue]) -> RequestEstimate {
        var characters = 0
        for message in body["messages"]?.arrayValue ?? [] {
            switch message["content"] {
            case .string(let text)?: characters += text.utf8.count
            case .array(let parts)?: characters += parts.reduce(0) { $0 + ($1["text"]?.stringValue?.utf8.count ?? 0) }
            default: break
            }
        }
        if case .string(let input)? = body["input"] { characters += input.utf8.count }
        let output = (body["max_completion_tokens"] ?? body["max_tokens"])?.intValue(clampedTo: 0...10_000_000) ?? 256
        return RequestEstimate(inputTokens: max(1, characters / 4), outputTokens: output)
    }

    static func gatewayError(for failure: RoutingFailure) -> GatewayError {
        switch failure {
        case .unknownModel(let model): return .modelNotFound(model)
        case .modelNotAllowed(let model): return .modelNotAllowed(model)
        case .noBackend(_, _, let reason):
            return .noHealthyBackend(reason)
        }
    }
}
