/// A client identity. The token itself is never kept: only its SHA-256 digest.
package struct UserSpec: Sendable, Hashable, Codable {
    package var id: String
    package var name: String?
    package var tokenDigest: TokenDigest
    /// Models this user may call; empty means all.
    package var allowedModels: [String]
    /// Matched against backend tags: a tagged backend serves only users sharing one of its tags.
    package var tags: [String]
    /// Preferred provider region when the request does not name one.
    package var region: String?
    package var enabled: Bool
    package var rateLimit: RateLimitSpec?
    package var budget: BudgetSpec?

    package init(
        id: String, name: String? = nil, tokenDigest: TokenDigest, allowedModels: [String] = [], tags: [String] = [],
        region: String? = nil, enabled: Bool = true
    ) {
        self.id = id
        self.name = name
        self.tokenDigest = tokenDigest
        self.allowedModels = allowedModels
        self.tags = tags
        self.region = region
        self.enabled = enabled
    }

    package func mayUse(model: String) -> Bool {
        allowedModels.isEmpty || allowedModels.contains(model)
    }

    /// Reads `[users.ID]`; also returns the clear token so the caller can show a ready-to-paste request.
    static func read(id: String, from table: TableReader, environment: [String: String]) -> (UserSpec, token: String)? {
        let name = table.displayText("name")
        let tokenReference = table.requiredString("token").map(SecretReference.init(parsing:))
        let allowedModels = table.strings("allowed_models") ?? []
        let tags = table.strings("tags") ?? []
        table.checkCount(allowedModels.count, of: "allowed_models", atMost: ObjectName.maximumListLength, what: "models")
        table.checkCount(tags.count, of: "tags", atMost: ObjectName.maximumListLength, what: "tags")
        let region = table.string("region")
        let rateLimit = table.table("rate_limit").map(RateLimitSpec.read(from:))
        let budget = table.table("budget").map(BudgetSpec.read(from:))
        let enabled = table.bool("enabled") ?? true
        table.rejectUnknownKeys()
        guard let tokenReference else { return nil }
        guard let token = tokenReference.resolve(in: environment) else {
            table.fail("token", "environment variable \(tokenReference.written.dropFirst(4)) is not set")
            return nil
        }
        guard token.count >= 8 else {
            table.fail("token", "must be at least 8 characters")
            return nil
        }
        var user = UserSpec(
            id: id, name: name, tokenDigest: TokenDigest(token: token), allowedModels: allowedModels, tags: tags, region: region,
            enabled: enabled)
        user.rateLimit = rateLimit
        user.budget = budget
        return (user, token)
    }
}
