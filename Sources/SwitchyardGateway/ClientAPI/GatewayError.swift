import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// An error answered to API clients in OpenAI's shape: `{"error":{"message","type","param","code"}}`.
package struct GatewayError: HTTPResponseError, Sendable {
    package var status: HTTPResponse.Status
    package var message: String
    package var type: String
    package var param: String?
    package var code: Code?
    /// Extra response headers, e.g. where the request was routed before it failed.
    package var headers: HTTPFields = [:]

    package init(status: HTTPResponse.Status, message: String, type: String, param: String? = nil, code: Code? = nil) {
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
    }

    /// The machine-readable `code` of an error answer: one place for every code the gateway sends.
    package struct Code: Hashable, Sendable, CustomStringConvertible {
        package let rawValue: String

        private init(_ rawValue: String) {
            self.rawValue = rawValue
        }

        package var description: String { rawValue }

        /// A code an upstream sent in its own error, passed on as it came.
        package static func fromUpstream(_ rawValue: String) -> Code {
            Code(rawValue)
        }

        package static let invalidAPIKey = Code("invalid_api_key")
        package static let invalidRequest = Code("invalid_request")
        package static let requestTooLarge = Code("request_too_large")
        package static let modelNotFound = Code("model_not_found")
        package static let modelNotAllowed = Code("model_not_allowed")
        package static let notFound = Code("not_found")
        package static let unsupportedEndpoint = Code("unsupported_endpoint")
        package static let rateLimitExceeded = Code("rate_limit_exceeded")
        package static let insufficientQuota = Code("insufficient_quota")
        package static let noHealthyBackend = Code("no_healthy_backend")
        package static let upstreamUnreachable = Code("upstream_unreachable")
        package static let upstreamTimeout = Code("upstream_timeout")
        package static let badUpstreamResponse = Code("bad_upstream_response")
        package static let loopDetected = Code("loop_detected")
        package static let serverBusy = Code("server_busy")
        package static let internalError = Code("internal_error")
        /// An error the mock provider was told to simulate.
        package static let mockError = Code("mock_error")
    }

    /// The same error with `headers` added to its response.
    package func adding(_ headers: HTTPFields) -> GatewayError {
        var error = self
        error.headers.append(contentsOf: headers)
        return error
    }

    package static func invalidAPIKey() -> GatewayError {
        GatewayError(
            status: .unauthorized, message: "Missing or invalid API key. Send it as 'Authorization: Bearer <token>' or 'x-api-key'.",
            type: "invalid_request_error", code: .invalidAPIKey)
    }

    package static func modelNotFound(_ model: String) -> GatewayError {
        GatewayError(
            status: .notFound, message: "The model '\(model)' does not exist.", type: "invalid_request_error", param: "model",
            code: .modelNotFound)
    }

    package static func modelNotAllowed(_ model: String) -> GatewayError {
        GatewayError(
            status: .forbidden, message: "This API key may not use the model '\(model)'.", type: "permission_error", param: "model",
            code: .modelNotAllowed)
    }

    package static func invalidRequest(_ message: String, param: String? = nil) -> GatewayError {
        GatewayError(status: .badRequest, message: message, type: "invalid_request_error", param: param, code: .invalidRequest)
    }

    package static func bodyTooLarge(limit: Int) -> GatewayError {
        GatewayError(
            status: .contentTooLarge, message: "Request body is larger than the limit of \(limit) bytes.",
            type: "invalid_request_error", code: .requestTooLarge)
    }

    package static func upstreamUnreachable(_ detail: String) -> GatewayError {
        GatewayError(status: .badGateway, message: "Upstream unreachable: \(detail)", type: "upstream_error", code: .upstreamUnreachable)
    }

    /// No backend of the routed version can take the request (`reason` says why).
    package static func noHealthyBackend(_ reason: String) -> GatewayError {
        GatewayError(status: .serviceUnavailable, message: reason, type: "upstream_error", code: .noHealthyBackend)
    }

    package static func upstreamTimeout() -> GatewayError {
        GatewayError(status: .gatewayTimeout, message: "Upstream did not answer in time.", type: "upstream_error", code: .upstreamTimeout)
    }

    package static func badUpstreamResponse(_ detail: String) -> GatewayError {
        GatewayError(status: .badGateway, message: "Upstream answered badly: \(detail)", type: "upstream_error", code: .badUpstreamResponse)
    }

    package static func loopDetected(hops: Int) -> GatewayError {
        GatewayError(
            status: HTTPResponse.Status(code: 508, reasonPhrase: "Loop Detected"),
            message: "The request has passed through \(hops) Switchyard gateways: a provider's base_url leads back to a gateway.",
            type: "server_error", code: .loopDetected)
    }

    package static func serverBusy() -> GatewayError {
        GatewayError(
            status: .serviceUnavailable, message: "The gateway is at its connection limit; try again shortly.", type: "server_error",
            code: .serverBusy)
    }

    package static func notFound(path: String) -> GatewayError {
        GatewayError(status: .notFound, message: "No route for \(path).", type: "invalid_request_error", code: .notFound)
    }

    package static func internalError() -> GatewayError {
        GatewayError(status: .internalServerError, message: "Internal error.", type: "server_error", code: .internalError)
    }

    private struct Envelope: Encodable {
        struct Body: Encodable {
            var message: String
            var type: String
            var param: String?
            var code: String?

            func encode(to encoder: any Encoder) throws {
                var container = encoder.container(keyedBy: CodingKeys.self)
                try container.encode(message, forKey: .message)
                try container.encode(type, forKey: .type)
                try container.encode(param, forKey: .param)
                try container.encode(code, forKey: .code)
            }

            enum CodingKeys: String, CodingKey { case message, type, param, code }
        }

        var error: Body
    }

    /// The JSON body, also used for the SSE error event that ends a failed stream.
    package var jsonBody: ByteBuffer {
        let envelope = Envelope(error: .init(message: message, type: type, param: param, code: code?.rawValue))
        let encoder = JSONEncoder()
        encoder.outputFormatting = .withoutEscapingSlashes
        let data = (try? encoder.encode(envelope)) ?? Data("{\"error\":{\"message\":\"error\"}}".utf8)
        return ByteBuffer(bytes: data)
    }

    package func response(from request: Request, context: some RequestContext) throws -> Response {
        let body = jsonBody
        var headers = self.headers
        headers[.contentType] = "application/json"
        headers[.contentLength] = String(body.readableBytes)
        return Response(status: status, headers: headers, body: .init(byteBuffer: body))
    }
}
