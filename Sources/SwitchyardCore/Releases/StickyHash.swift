/// Sticky bucketing as GrowthBook's hash version 2: `fnv1a32(String(fnv1a32(seed + key))) % 10000`,
/// FNV-1a 32-bit over UTF-8. The same seed and key give the same bucket on every instance and restart.
package enum StickyHash {
    package static func fnv1a32(_ text: String) -> UInt32 {
        fnv1a32(text, continuing: 0x811c_9dc5)
    }

    /// FNV-1a goes byte by byte, so hashing `b` from the hash of `a` is the hash of `a + b`.
    private static func fnv1a32(_ text: String, continuing start: UInt32) -> UInt32 {
        var hash = start
        for byte in text.utf8 {
            hash ^= UInt32(byte)
            hash = hash &* 0x0100_0193
        }
        return hash
    }

    /// The bucket (0 ..< 10 000) of `key` under `seed`; computed on every sticky request, so without
    /// building `seed + key`.
    package static func bucket(seed: String, key: String) -> Int {
        Int(fnv1a32(String(fnv1a32(key, continuing: fnv1a32(seed)))) % UInt32(ReleaseSplit.bucketCount))
    }
}
