import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import SwitchyardCore

/// The configuration as a whole through the admin API: the settings, the seed file's status and
/// reload, the export as a seed, and the audit log of every change.
package struct ConfigurationAdminController: Sendable {
    let writer: ConfigurationWriter
    let reloader: SeedReloader

    package func addRoutes(to router: Router<GatewayContext>) {
        router.get("/api/settings") { request, _ in
            return Response.json(Self.json(await writer.configuration.settings))
        }
        router.put("/api/settings") { request, _ in
            let actor = AdminAuthenticator.actor
            let body = try await AdminRequestBody.jsonObject(request)
            let current = await writer.configuration.settings
            let settings = try AdminRequestBody.readObject { () throws(ConfigurationErrors) in try ObjectReader.settings(body: body, over: current)
            }
            try await writer.mapErrors { try await writer.put(.settings(settings), .update, actor: actor) }
            return Response.json(Self.json(settings))
        }
        router.get("/api/config/status") { request, _ in
            return Response.json(Self.json(await reloader.current))
        }
        router.post("/api/config/reload") { request, _ in
            guard await reloader.current.path != nil else {
                throw AdminError(status: .conflict, message: "The gateway runs on the built-in example seed: there is no file to reload.")
            }
            let status = await reloader.reload(trigger: "api")
            if status.result == .invalid, let first = status.errors.first {
                throw AdminError(
                    status: .unprocessableContent, message: "The seed file is invalid; nothing was applied: \(first.reason)",
                    field: first.key.isEmpty ? nil : first.key)
            }
            return Response.json(Self.json(status))
        }
        router.get("/api/config/export") { request, _ in
            let text = SeedExport.text(
                await writer.configuration,
                header:
                    "Switchyard configuration exported \(Date().formatted(.iso8601)).\nSecrets are not exported: literal keys and user tokens read \"<redacted>\","
                    + " which keeps the stored secret when this file is applied as the seed.")
            let body = ByteBuffer(string: text)
            return Response(
                status: .ok, headers: [.contentType: "text/plain; charset=utf-8", .contentLength: String(body.readableBytes)],
                body: .init(byteBuffer: body))
        }
        router.get("/api/audit") { request, _ in
            let query = request.uri.queryParameters
            let since = try UsageAdminController.time(query.get("since"), field: "since")
            var limit = 100
            if let text = query.get("limit") {
                guard let value = Int(text), (1...10_000).contains(value) else {
                    throw AdminError.invalid("limit", "'limit' must be a whole number from 1 to 10000.")
                }
                limit = value
            }
            let entries = try await writer.auditLog(object: query.get("object"), since: since, limit: limit)
            return Response.json(.object(["entries": .array(entries.map(Self.json))]))
        }
    }

    // MARK: JSON shapes

    static func json(_ settings: GatewaySettings) -> JSONValue {
        JSONValue(toml: .table(SeedExport.settingsTable(settings)))
    }

    static func json(_ status: SeedStatus) -> JSONValue {
        .object([
            "seed_path": status.path.map(JSONValue.string) ?? .null, "watching": .bool(status.watching),
            "last_attempt_at": status.lastAttemptAt.map(JSONValue.number) ?? .null,
            "last_applied_at": status.lastAppliedAt.map(JSONValue.number) ?? .null, "last_hash": status.lastHash.map(JSONValue.string) ?? .null,
            "result": .string(status.result.rawValue),
            "errors": .array(
                status.errors.map { .object(["key": .string($0.key), "reason": .string($0.reason), "message": .string("\($0)")]) }),
            "changed": .array(status.changed.map(JSONValue.string)),
        ])
    }

    static func json(_ entry: AuditEntry) -> JSONValue {
        func parsed(_ text: String?) -> JSONValue {
            guard let text else { return .null }
            return (try? JSONValue.parse(Array(text.utf8))) ?? .string(text)
        }
        return .object([
            "id": entry.id.map { .number(Double($0)) } ?? .null, "time": .number(entry.time), "actor": .string(entry.actor),
            "source": .string(entry.source.rawValue), "object": .string(entry.object), "action": .string(entry.action),
            "before": parsed(entry.before), "after": parsed(entry.after),
        ])
    }
}

extension ConfigurationWriter {
    /// Runs `body`, turning release errors into admin API errors.
    @discardableResult
    nonisolated func mapErrors<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as ReleaseError {
            throw AdminError(error)
        }
    }
}
