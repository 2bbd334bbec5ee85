import Foundation
import Hummingbird
import NIOCore
import SwitchyardCore

/// Admin API request bodies: read as JSON objects (1 MiB at most) and checked by the seed's own
/// readers, every problem answered with the field it names.
enum AdminRequestBody {
    static let maxBodyBytes = 1 << 20

    /// The request's body as a JSON object, or a 400/413 naming what is wrong.
    static func jsonObject(_ request: Request) async throws -> [String: JSONValue] {
        var request = request
        let buffer: ByteBuffer
        do {
            buffer = try await request.collectBody(upTo: maxBodyBytes)
        } catch is NIOTooManyBytesError {
            throw AdminError(status: .contentTooLarge, message: "The body is larger than \(maxBodyBytes) bytes.")
        }
        guard buffer.readableBytes > 0 else { return [:] }
        let value: JSONValue
        do {
            value = try JSONValue.parse(buffer.readableBytesView)
        } catch {
            throw AdminError.invalid(nil, "The body is not valid JSON: \(error).")
        }
        guard case .object(let object) = value else { throw AdminError.invalid(nil, "The body must be a JSON object.") }
        return object
    }

    /// Reads a JSON body with the seed's readers (strict types, unknown fields rejected), turning
    /// the first problem into a 422 naming the field.
    static func read<T>(_ body: [String: JSONValue], _ reader: (TableReader) -> T?) throws -> T {
        let errors = ErrorCollector()
        let table = TableReader(path: "", values: body.mapValues(TOMLNode.init(json:)), errors: errors)
        let value = reader(table)
        if let error = errors.errors.first {
            throw AdminError(status: .unprocessableContent, message: error.reason, field: error.key.isEmpty ? nil : error.key)
        }
        guard let value else { throw AdminError(status: .unprocessableContent, message: "The body is not valid.") }
        return value
    }

    /// Takes the object's identity out of a create body.
    static func identity(_ body: inout [String: JSONValue], _ key: String) throws -> String {
        guard let value = body.removeValue(forKey: key) else {
            throw AdminError(status: .unprocessableContent, message: "'\(key)' is required.", field: key)
        }
        guard case .string(let text) = value, !text.contains("/") else {
            throw AdminError(status: .unprocessableContent, message: "'\(key)' must be a non-empty string without '/'.", field: key)
        }
        if let problem = ObjectName.problem(text) {
            throw AdminError(status: .unprocessableContent, message: "'\(key)' \(problem).", field: key)
        }
        return text
    }

    /// Runs a seed reader over an admin body: its first error is the answer, with the field it names.
    static func readObject<T>(_ body: () throws(ConfigurationErrors) -> T) throws -> T {
        do {
            return try body()
        } catch {
            let first = error.errors.first
            throw AdminError(
                status: .unprocessableContent, message: first?.reason ?? "The body is not valid.",
                field: first.flatMap { $0.key.isEmpty ? nil : $0.key })
        }
    }
}
