import Foundation

/// Conventions of OpenAI-compatible upstreams that more than one format shares.
enum OpenAIUpstream {
    /// A name made safe to put in a URL path or query.
    static func pathSegment(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .urlUnreservedCharacters) ?? text
    }
}

extension CharacterSet {
    /// RFC 3986's unreserved characters.
    static let urlUnreservedCharacters = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
}
