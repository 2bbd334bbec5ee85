import SwitchyardCore

/// Generates request ids: 24 hex characters from the system's random generator.
package enum RequestIdentifier {
    package static func make() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (generator.next() as UInt64, generator.next() as UInt32)
        return withUnsafeBytes(of: bytes) { Hex.encode(UnsafeRawBufferPointer(rebasing: $0.prefix(12))) }
    }
}
