/// The token a client presents: `Authorization: Bearer …` (client and admin API) or a bare
/// `x-api-key` value, read as bytes.
package enum BearerToken {
    /// The credentials of an `Authorization` value whose scheme is `Bearer` (any case), without
    /// surrounding spaces and tabs; `nil` for another scheme or no credentials.
    package static func credentials(inAuthorization authorization: String) -> String? {
        var authorization = authorization
        return authorization.withUTF8 { whole in
            let value = trimmed(whole)
            let space = UInt8(ascii: " ")
            guard value.count > 7, value[6] == space,
                zip(value.prefix(6), "bearer".utf8).allSatisfy({ $0 | 0x20 == $1 })
            else { return nil }
            let credentials = trimmed(UnsafeBufferPointer(rebasing: value[7...]))
            return credentials.isEmpty ? nil : String(decoding: credentials, as: UTF8.self)
        }
    }

    /// A bare token (`x-api-key`) without surrounding spaces and tabs; `nil` when nothing is left.
    package static func credentials(inAPIKey value: String) -> String? {
        let token = value.trimmingOptionalWhitespace()
        return token.isEmpty ? nil : token
    }

    /// `bytes` without leading and trailing spaces and tabs.
    static func trimmed(_ bytes: UnsafeBufferPointer<UInt8>) -> UnsafeBufferPointer<UInt8> {
        let isSpace = { (byte: UInt8) in byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") }
        guard let first = bytes.firstIndex(where: { !isSpace($0) }), let last = bytes.lastIndex(where: { !isSpace($0) }) else {
            return UnsafeBufferPointer(rebasing: bytes[0..<0])
        }
        return UnsafeBufferPointer(rebasing: bytes[first...last])
    }
}

extension String {
    /// The text without leading and trailing spaces and tabs: HTTP's optional white space around a
    /// field value.
    package func trimmingOptionalWhitespace() -> String {
        var text = self
        return text.withUTF8 { String(decoding: BearerToken.trimmed($0), as: UTF8.self) }
    }
}
