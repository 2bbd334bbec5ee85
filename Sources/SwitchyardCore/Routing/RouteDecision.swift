import Foundation

/// One backend of the chosen version, whether it could serve and why.
package struct CandidateExplanation: Sendable {
    package var backend: EffectiveConfiguration.Backend
    package var status: BackendStatus
    package var eligible: Bool
    package var reason: String
    package var score: Double?
}

/// Where one request goes: the version, the backends to try in order, and — when asked — why.
package struct RouteDecision: Sendable {
    package enum SessionUse: Sendable, Equatable {
        case none
        /// The bound backend serves again.
        case kept
        /// The bound backend could not serve; the conversation moves to the new choice.
        case moved(from: String)
    }

    package var model: EffectiveConfiguration.Model
    package var version: EffectiveConfiguration.Version
    package var backends: [EffectiveConfiguration.Backend]
    package var strategy: BalancingStrategy
    /// The sticky bucket (0 ..< 10 000) that chose the version; `nil` when drawn at random or bound by a session.
    package var bucket: Int?
    package var releaseStrategy: ReleaseStrategy
    /// One line saying why this version and backend; empty unless the decision was explained.
    package var reason: String
    /// Every backend of the version with its verdict and score; empty unless the decision was explained.
    package var candidates: [CandidateExplanation]
    /// The version drawn first, when it had no usable backend and the default version serves instead.
    package var fellBackFrom: String?
    /// `fellBackFrom` when its backends were all unhealthy (not filtered out by the request): a failure of that version.
    package var unhealthyVersion: String?
    package var session: SessionUse
    /// No backend was healthy and the strategy picks among the unhealthy ones by weight anyway.
    package var usesUnhealthyBackends = false
    /// The experiment variant the request met, when an experiment runs on the requested model.
    package var experiment: ExperimentAssignment?
    /// Where a copy of this request goes, when its bucket is in the model's shadow share.
    package var shadow: ShadowRoute?
}

/// The shadow version a copy of a request goes to, with its backends in the order to try.
package struct ShadowRoute: Sendable {
    package var version: EffectiveConfiguration.Version
    package var backends: [EffectiveConfiguration.Backend]
    package var spec: ShadowSpec
}
