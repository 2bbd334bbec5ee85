import Foundation

/// What routing needs to know about one request.
package struct RouteRequest: Sendable {
    package var model: String
    package var user: UserSpec
    /// The request's OpenAI `user` field: the sticky key of models with `sticky = "user"`.
    package var endUser: String?
    /// The conversation id from the request's headers.
    package var sessionID: String?
    /// The live binding of the request's conversation, if it has one.
    package var session: SessionBinding?
    package var preferredRegion: String?
    package var excludedProviders: Set<String>
    package var estimate: RequestEstimate
    /// Explain with another strategy than the model's.
    package var strategyOverride: BalancingStrategy?

    package init(
        model: String, user: UserSpec, endUser: String? = nil, sessionID: String? = nil, session: SessionBinding? = nil,
        preferredRegion: String? = nil,
        excludedProviders: Set<String> = [], estimate: RequestEstimate = RequestEstimate(inputTokens: 0, outputTokens: 0),
        strategyOverride: BalancingStrategy? = nil
    ) {
        self.model = model
        self.user = user
        self.endUser = endUser
        self.sessionID = sessionID
        self.session = session
        self.preferredRegion = preferredRegion
        self.excludedProviders = excludedProviders
        self.estimate = estimate
        self.strategyOverride = strategyOverride
    }
}
