import Crypto

/// The SHA-256 digest of a bearer token: what Switchyard stores and compares instead of the token.
package struct TokenDigest: Sendable, Hashable, Codable, CustomStringConvertible {
    /// Lower-case hex of the 32-byte digest.
    package let hex: String

    package init(token: String) {
        var token = token
        let digest = token.withUTF8 { SHA256.hash(data: $0) }
        hex = digest.withUnsafeBytes { Hex.encode($0) }
    }

    package init?(hex: String) {
        guard hex.utf8.count == 64, hex.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }) else { return nil }
        self.hex = hex
    }

    package var description: String { "sha256:\(hex.prefix(8))…" }

    /// Compares two digests without an early exit, so timing says nothing about how much matched.
    package func constantTimeEquals(_ other: TokenDigest) -> Bool {
        Self.constantTimeEquals(hex, other.hex)
    }

    /// Whether two texts are equal, looking at every byte whatever the first difference (the length aside).
    static func constantTimeEquals(_ lhs: String, _ rhs: String) -> Bool {
        var lhs = lhs
        var rhs = rhs
        return lhs.withUTF8 { left in
            rhs.withUTF8 { right in
                guard left.count == right.count else { return false }
                var difference: UInt8 = 0
                for index in left.indices {
                    difference |= left[index] ^ right[index]
                }
                return difference == 0
            }
        }
    }

    package init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let digest = TokenDigest(hex: text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not a SHA-256 hex digest"))
        }
        self = digest
    }

    package func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(hex)
    }
}

/// Lower-case hexadecimal text of bytes, without a string per byte.
package enum Hex {
    private static let digits = Array("0123456789abcdef".utf8)

    /// The value of one hex digit (either case), or `nil` for any other byte.
    package static func value(of digit: UInt8) -> UInt8? {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): digit - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    package static func encode(_ bytes: UnsafeRawBufferPointer) -> String {
        String(unsafeUninitializedCapacity: bytes.count * 2) { output in
            digits.withUnsafeBufferPointer { digits in
                for (index, byte) in bytes.enumerated() {
                    output[2 * index] = digits[Int(byte >> 4)]
                    output[2 * index + 1] = digits[Int(byte & 0x0F)]
                }
            }
            return bytes.count * 2
        }
    }
}

extension TokenDigest {
    /// The digest of the export placeholder `"<redacted>"`: a seed carrying it keeps the stored token.
    package static let redacted = TokenDigest(token: SeedExport.redacted)
}

/// The digest of the last token one client connection presented. A client sends the same token on
/// every request of a keep-alive connection, and hashing it each time cost more than routing the
/// request. The comparison is constant-time: a proxy in front of the gateway may carry several
/// users' requests on one connection. Used on the connection's event loop only.
package final class TokenDigestMemo {
    private var token = ""
    private var digest: TokenDigest?

    package init() {}

    package func digest(of token: String) -> TokenDigest {
        if let digest, TokenDigest.constantTimeEquals(token, self.token) { return digest }
        let fresh = TokenDigest(token: token)
        self.token = token
        digest = fresh
        return fresh
    }
}
