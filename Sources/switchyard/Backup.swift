import ArgumentParser
import Foundation
import SwitchyardCore
import SwitchyardServer
import SwitchyardStore

struct Backup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a consistent copy of the database while the gateway runs, and check it.")

    @Option(help: "The database file.")
    var database: String?

    @Option(help: "Take the database path from this seed file's [server] database.")
    var config: String?

    @Argument(help: "Where to write the copy (must not exist).")
    var destination: String

    func run() async throws {
        let path: String
        if let database {
            path = database
        } else if let config {
            let seed = try SeedFile.load(path: config)
            path = GatewayServer.databasePath(seed.server.database, relativeTo: config)
        } else {
            throw ValidationError("give --database PATH or --config FILE")
        }
        guard FileManager.default.fileExists(atPath: path) else {
            FileHandle.standardError.write(Data("no database at \(path)\n".utf8))
            throw ExitCode.failure
        }
        do {
            let store = try SQLiteStore.opening(path)
            let size = try await store.backup(to: destination)
            try store.close()
            print("backed up \(path) to \(destination) (\(size) bytes, integrity ok)")
        } catch {
            FileHandle.standardError.write(Data("backup failed: \(error)\n".utf8))
            throw ExitCode.failure
        }
    }
}
