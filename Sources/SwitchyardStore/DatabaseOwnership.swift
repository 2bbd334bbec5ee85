#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// The serving process's claim on its database file: an exclusive `flock` on `<database>.lock`,
/// held until the process ends, with the holder's pid written in it. Two gateways on one file would
/// each keep their own in-memory configuration and silently overwrite each other's changes; the
/// second one refuses to start instead. Commands that only read or copy the file (`backup`,
/// `usage`, `validate`) take no claim and work beside a running gateway.
package final class DatabaseOwnerLock: Sendable {
    private let descriptor: Int32
    package let lockPath: String

    /// Claims the database at `databasePath`, or throws `DatabaseOpenError.inUse` naming the holder.
    package init(databasePath: String) throws(DatabaseOpenError) {
        lockPath = databasePath + ".lock"
        let descriptor = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw DatabaseOpenError.diagnose(path: databasePath, cause: String(cString: strerror(errno)))
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let holder = Self.readPID(descriptor)
            close(descriptor)
            throw .inUse(path: databasePath, holderPID: holder)
        }
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(descriptor, 0)
        _ = pid.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, 0) }
        self.descriptor = descriptor
    }

    deinit {
        close(descriptor)
    }

    private static func readPID(_ descriptor: Int32) -> Int32? {
        var buffer = [UInt8](repeating: 0, count: 32)
        let count = buffer.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, $0.count, 0) }
        guard count > 0 else { return nil }
        return Int32(String(decoding: buffer[0..<count], as: UTF8.self).trimmingSpaces)
    }
}

extension SQLiteStore {
    /// Opens the database like `init(path:)`, with a failure that names the path, the cause and the fix.
    package static func opening(_ path: String) throws(DatabaseOpenError) -> SQLiteStore {
        do {
            return try SQLiteStore(path: path)
        } catch {
            throw DatabaseOpenError.diagnose(path: path, cause: "\(error)")
        }
    }
}

/// Why the database could not be opened, in words that name the path and what to do.
package enum DatabaseOpenError: Error, CustomStringConvertible {
    case inUse(path: String, holderPID: Int32?)
    case folderMissing(path: String, folder: String)
    case notWritable(path: String, what: String)
    case unusable(path: String, cause: String)

    package var description: String {
        switch self {
        case .inUse(let path, let pid):
            let holder = pid.map { "process \($0)" } ?? "another process"
            return "the database \(path) is in use by \(holder), another `switchyard serve`: two gateways on one SQLite "
                + "file would overwrite each other's configuration. Stop that one, or give this one its own --database "
                + "(several instances sharing one configuration need PostgreSQL)."
        case .folderMissing(let path, let folder):
            return "cannot open the database \(path): the folder \(folder) does not exist. Create it (mkdir -p \(folder)), "
                + "or point [server] database or --database elsewhere."
        case .notWritable(let path, let what):
            return "cannot open the database \(path): \(what) is not writable by this user (uid \(getuid())). "
                + "Fix its owner or mode (e.g. chown to the user that runs switchyard), or point --database elsewhere."
        case .unusable(let path, let cause):
            return "cannot open the database \(path): \(cause)"
        }
    }

    /// Names what is wrong with `path` — a missing folder, a folder or file this user cannot write —
    /// falling back to the underlying `cause`.
    package static func diagnose(path: String, cause: String) -> DatabaseOpenError {
        let folder = path.lastIndex(of: "/").map { path[..<$0].isEmpty ? "/" : String(path[..<$0]) } ?? "."
        var status = stat()
        if stat(folder, &status) != 0 || (status.st_mode & S_IFMT) != S_IFDIR {
            return .folderMissing(path: path, folder: folder)
        }
        for file in [path, path + "-wal", path + "-shm", path + ".lock"] where access(file, F_OK) == 0 && access(file, W_OK) != 0 {
            return .notWritable(path: path, what: "the file \(file)")
        }
        if access(folder, W_OK) != 0 {
            return .notWritable(path: path, what: "the folder \(folder)")
        }
        return .unusable(path: path, cause: cause)
    }
}

extension String {
    fileprivate var trimmingSpaces: Substring {
        let trimmed = drop { $0.isWhitespace }
        return trimmed.dropLast(trimmed.reversed().prefix { $0.isWhitespace }.count)
    }
}
