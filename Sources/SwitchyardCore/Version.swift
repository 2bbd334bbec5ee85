/// The release this build is, and the git commit it was built from.
package enum SwitchyardVersion {
    package static let current = "0.1.0"

    /// The git commit this binary was built from (40 hex digits, `+dirty` when the work tree had
    /// uncommitted changes), or nil for a binary nobody stamped (a plain `swift build`).
    ///
    /// `make dist` stamps it after linking: `packaging/stamp-commit` finds `commitStamp` in the binary
    /// and overwrites its dots, in place, with the commit. The string keeps its length, so the
    /// length compiled into the code stays right. We chose this over a generated source file because
    /// SwiftPM builds only files that exist in the tree: a generated file would have to be committed
    /// (and go stale) or written before each build and restored after (a dirty tree whenever a build
    /// is interrupted). This way the sources built are exactly the committed ones.
    package static var commit: String? { stampedValue(commitStamp) }

    /// `current` plus the commit, as `switchyard version` and `--version` print it.
    package static var description: String { "\(current) (commit \(commit ?? "unknown: not built by make dist"))" }

    /// The marker `packaging/stamp-commit` looks for: the prefix, then 64 dots. Keep it ASCII, keep
    /// it unique in the binary, and change the prefix or the width only together with that script.
    static let commitStamp = "switchyard-commit-stamp:................................................................"

    /// What was stamped after the prefix, up to the first dot; nil if nothing was.
    @inline(never)
    static func stampedValue(_ stamp: String) -> String? {
        let prefix = "switchyard-commit-stamp:".utf8
        let value = stamp.utf8.dropFirst(prefix.count).prefix { $0 != UInt8(ascii: ".") }
        return value.isEmpty ? nil : String(decoding: value, as: UTF8.self)
    }
}
