import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A PostgreSQL server for tests, from the system's packages: a fresh cluster (`initdb`) in a
/// temporary folder, on a free loopback port, run as an unprivileged user when the tests run as
/// root (`initdb` and `postgres` refuse root). One server per test process, started on first use;
/// each caller gets a database of its own. The server is stopped and its folder removed when the
/// test process ends, even when it is killed: a watcher shell stops it when its stdin (a pipe from
/// this process) closes.
package final class TemporaryPostgres: Sendable {
    package let port: Int
    package let directory: String
    package static let user = "switchyard"

    private static let shared = Mutex<TemporaryPostgres?>(nil)
    private static let counter = Atomic<Int>(0)
    private let watcher: Process
    private let watcherInput: Pipe

    /// The test process's server, started now if it is not running yet.
    package static func server() throws -> TemporaryPostgres {
        try shared.withLock { server in
            if let server { return server }
            let started = try TemporaryPostgres()
            server = started
            return started
        }
    }

    /// A new, empty database on the test process's server; its `postgres://` URL.
    package static func makeDatabase() throws -> String {
        let server = try server()
        let name = "t\(getpid())_\(counter.add(1, ordering: .relaxed).newValue)"
        try server.run(Self.tool("createdb"), ["-h", "127.0.0.1", "-p", "\(server.port)", "-U", user, name])
        return server.url(database: name)
    }

    package func url(database: String) -> String {
        "postgres://\(Self.user)@127.0.0.1:\(port)/\(database)?sslmode=disable"
    }

    /// Stops the server at once (as a crash would), keeping its files, for tests of what happens
    /// while the database is away; `restart` brings it back on the same port.
    package func kill() throws {
        try run("/bin/sh", ["-c", "kill -9 $(head -1 '\(directory)/data/postmaster.pid')"])
        // The postmaster's children exit when it is gone; wait for the port to close.
        for _ in 0..<100 where Self.accepts(port: port) { usleep(50_000) }
    }

    private init() throws {
        guard let initdb = Self.tool("initdb", required: false), let postgres = Self.tool("postgres", required: false) else {
            throw TemporaryPostgresError(description: "PostgreSQL is not installed (initdb, postgres): apt-get install postgresql")
        }
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("switchyard-pg-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let asUser = Self.unprivileged()
        if getuid() == 0 {
            // The cluster belongs to the user that runs it.
            _ = chown(directory, 65534, 65534)
        }
        port = try Self.freePort()
        try Self.runChecked(asUser + [initdb, "-D", "\(directory)/data", "-U", Self.user, "--auth=trust", "-E", "UTF8", "--no-sync"])
        let command =
            (asUser + [
                postgres, "-D", "\(directory)/data", "-p", "\(port)", "-c", "listen_addresses=127.0.0.1", "-c",
                "unix_socket_directories=\(directory)",
                "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "max_connections=300",
            ]).map { "'\($0)'" }.joined(separator: " ")
        // Stopped when this process's end closes the pipe; a second kill after a grace period.
        let script = """
            \(command) >'\(directory)/server.log' 2>&1 &
            pid=$!
            cat >/dev/null
            kill -INT $pid 2>/dev/null; sleep 2; kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
            rm -rf '\(directory)'
            """
        watcher = Process()
        watcher.executableURL = URL(fileURLWithPath: "/bin/sh")
        watcher.arguments = ["-c", script]
        watcherInput = Pipe()
        watcher.standardInput = watcherInput
        try watcher.run()
        try waitUntilReady()
    }

    /// Starts the killed server again on the same port and files.
    package func restart() throws {
        guard let postgres = Self.tool("postgres", required: false) else { return }
        let command =
            (Self.unprivileged() + [
                postgres, "-D", "\(directory)/data", "-p", "\(port)", "-c", "listen_addresses=127.0.0.1", "-c",
                "unix_socket_directories=\(directory)",
                "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "max_connections=300",
            ]).map { "'\($0)'" }.joined(separator: " ")
        try run("/bin/sh", ["-c", "\(command) >>'\(directory)/server.log' 2>&1 &"])
        try waitUntilReady()
    }

    private func waitUntilReady() throws {
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            if Self.accepts(port: port),
                (try? run(Self.tool("pg_isready") ?? "/usr/bin/pg_isready", ["-q", "-h", "127.0.0.1", "-p", "\(port)", "-U", Self.user])) != nil
            {
                return
            }
            usleep(100_000)
        }
        let log = (try? String(contentsOfFile: "\(directory)/server.log", encoding: .utf8)) ?? ""
        throw TemporaryPostgresError(description: "PostgreSQL did not start on port \(port): \(log)")
    }

    @discardableResult
    private func run(_ tool: String?, _ arguments: [String]) throws -> String {
        guard let tool else { throw TemporaryPostgresError(description: "missing PostgreSQL client tool") }
        return try Self.runChecked([tool] + arguments)
    }

    /// `setpriv` to `nobody` when running as root; nothing otherwise.
    private static func unprivileged() -> [String] {
        getuid() == 0 ? ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] : []
    }

    @discardableResult
    private static func runChecked(_ command: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: command[0])
        process.arguments = Array(command.dropFirst())
        process.currentDirectoryURL = URL(fileURLWithPath: "/")
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        guard process.terminationStatus == 0 else {
            throw TemporaryPostgresError(description: "\(command.joined(separator: " ")) failed: \(text)")
        }
        return text
    }

    /// The tool on `PATH`, else in Debian's versioned folder.
    private static func tool(_ name: String, required: Bool = true) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        var folders = path.split(separator: ":").map(String.init)
        if let versions = try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql") {
            folders += versions.sorted().reversed().map { "/usr/lib/postgresql/\($0)/bin" }
        }
        return folders.map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    private static func freePort() throws -> Int {
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(socket) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(socket, pointer, length) == 0 && getsockname(socket, pointer, &length) == 0
            }
        }
        guard bound else { throw TemporaryPostgresError(description: "no free port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    private static func accepts(port: Int) -> Bool {
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(socket) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }
}

package struct TemporaryPostgresError: Error, CustomStringConvertible {
    package var description: String
}
