import Foundation
import SwitchyardCore

/// What the gateway prints once it listens: the address, the admin token and a request to paste.
/// Standard output lands in the journal under systemd, so a real user's token is never printed: only
/// the built-in example's demo token, and otherwise a placeholder for the user's own.
struct Banner: Sendable {
    var seed: Seed
    var configuration: EffectiveConfiguration
    var adminTokenNotice: String
    var host: String
    var servesBuiltInExample: Bool

    func print(port: Int) {
        let shownHost = host == "0.0.0.0" || host == "::" ? "127.0.0.1" : host
        let base = "http://\(shownHost):\(port)"
        var lines = ["Switchyard listening on \(base)", adminTokenNotice]
        let sample = configuration.usersByDigest.values.sorted { $0.id < $1.id }.lazy.compactMap { user -> (String, String)? in
            guard let token = seed.userTokens[user.id],
                let model = configuration.modelNames.first(where: user.mayUse(model:))
            else { return nil }
            return (token, model)
        }.first
        let model = sample?.1 ?? configuration.modelNames.first
        if let model {
            let token = servesBuiltInExample ? sample?.0 ?? "<your user token>" : "<your user token>"
            lines.append(servesBuiltInExample ? "try it (with the example's demo token):" : "try it with one of your users' tokens:")
            lines.append(
                "  curl -s \(base)/v1/chat/completions -H 'Authorization: Bearer \(token)' -H 'Content-Type: application/json' \\\n"
                    + "    -d '{\"model\": \"\(model)\", \"messages\": [{\"role\": \"user\", \"content\": \"Hello, Switchyard!\"}]}'")
        }
        FileHandle.standardOutput.write(Data((lines.joined(separator: "\n") + "\n").utf8))
    }
}
