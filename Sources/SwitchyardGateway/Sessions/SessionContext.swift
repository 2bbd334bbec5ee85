import SwitchyardCore

/// The conversation a request belongs to: binds it to whatever backend ends up serving.
struct SessionContext: Sendable {
    let id: String
    let user: String
    let model: String
    let table: SessionTable
    let ttl: Double

    func bind(version: String, backend: String) {
        table.bind(id, user: user, model: model, version: version, backend: backend, ttl: ttl)
    }
}
