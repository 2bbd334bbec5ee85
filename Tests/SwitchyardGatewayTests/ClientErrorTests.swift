import AsyncHTTPClient
import Foundation
import HTTPTypes
import NIOCore
import NIOHTTP1
import SwitchyardCore
import Testing

@testable import SwitchyardGateway

@Suite(.serialized) struct ClientErrorTests {
    @Test func requestsAreRefusedInOpenAIsShape() async throws {
        try await GatewayHarness.withGateway(maxBodyBytes: 2048) { gateway in
            let cases: [(String, String?, String, Int, String?, String?)] = [
                ("no token", nil, chatBody(model: "ok"), 401, "invalid_api_key", nil),
                ("wrong token", "sk-wrong-token", chatBody(model: "ok"), 401, "invalid_api_key", nil),
                ("forbidden model", GatewayHarness.userToken, chatBody(model: "forbidden"), 403, "model_not_allowed", "model"),
                ("unknown model", GatewayHarness.userToken, chatBody(model: "nope"), 404, "model_not_found", "model"),
                ("malformed JSON", GatewayHarness.userToken, "{\"model\": ", 400, "invalid_request", nil),
                ("not an object", GatewayHarness.userToken, "[1, 2]", 400, "invalid_request", nil),
                ("missing model", GatewayHarness.userToken, #"{"messages":[{"role":"user","content":"x"}]}"#, 400, "invalid_request", "model"),
                ("missing messages", GatewayHarness.userToken, #"{"model":"ok"}"#, 400, "invalid_request", "messages"),
                ("stream not boolean", GatewayHarness.userToken, chatBody(model: "ok", extra: #","stream":"yes""#), 400, "invalid_request", "stream"),
                (
                    "too large", GatewayHarness.userToken, chatBody(model: "ok", extra: #","padding":"\#(String(repeating: "x", count: 4096))""#),
                    413, "request_too_large", nil
                ),
            ]
            for (name, token, body, status, code, param) in cases {
                let response = try await gateway.post("/v1/chat/completions", json: body, token: token)
                #expect(Int(response.status.code) == status, "\(name)")
                #expect(response.headers.first(name: "content-type") == "application/json", "\(name)")
                #expect(response.headers.first(name: "x-request-id")?.isEmpty == false, "\(name)")
                let error = try await response.errorObject()
                #expect(error["code"] as? String == code, "\(name)")
                #expect(error["param"] as? String == param, "\(name)")
                #expect(error["message"] as? String != nil && error["type"] as? String != nil, "\(name)")
            }
            #expect(gateway.upstream.requests.isEmpty, "nothing refused reaches an upstream")
        }
    }

    @Test func xAPIKeyIsAcceptedAndModelsAreListedPerUser() async throws {
        try await GatewayHarness.withGateway { gateway in
            var request = HTTPClientRequest(url: gateway.baseURL + "/v1/models")
            request.headers.add(name: "x-api-key", value: GatewayHarness.userToken)
            let response = try await gateway.client.execute(request, timeout: .seconds(5))
            #expect(response.status == .ok)
            let json = try JSONSerialization.jsonObject(with: Data(try await response.text().utf8)) as? [String: Any]
            let ids = (json?["data"] as? [[String: Any]])?.compactMap { $0["id"] as? String } ?? []
            #expect(ids.contains("ok") && ids.contains("mock"))
            #expect(!ids.contains("forbidden"))
        }
    }

    @Test func theBearerTokenIsReadLikeAnHTTPLibraryWould() {
        #expect(BearerToken.credentials(inAuthorization: "Bearer sk-1") == "sk-1")
        #expect(BearerToken.credentials(inAuthorization: "  bEARER   sk-1 \t") == "sk-1")
        #expect(BearerToken.credentials(inAuthorization: "Bearer sk 1") == "sk 1")
        for refused in ["Bearer", "Bearer ", "Bearer   ", "Basic dXNlcjpwYXNz", "Bearersk-1", "Bearer\tsk-1", "", "Bear sk-1"] {
            #expect(BearerToken.credentials(inAuthorization: refused) == nil, "\(refused)")
        }
    }

    @Test func contentTypesNamingJSONAreRecognisedInAnyCase() {
        for json in ["application/json", "application/JSON; charset=utf-8", "application/problem+json", "text/x-json"] {
            #expect(ClientExchange.mentionsJSON(json), "\(json)")
        }
        for other in ["text/html", "", "jso", "application/jsn", "text/event-stream"] {
            #expect(!ClientExchange.mentionsJSON(other), "\(other)")
        }
    }

    @Test func theClientAPIIsTakenByMethodAndExactPath() {
        func route(_ method: HTTPMethod, _ uri: String) -> String? {
            switch FrontDoor.clientRoute(HTTPRequestHead(version: .http1_1, method: method, uri: uri)) {
            case .relay(let endpoint)?: endpoint.rawValue
            case .listModels?: "models"
            case .retrieveModel(let id)?: "model " + id
            case .storedResponse(let subpath)?: "\(method.rawValue) response " + subpath
            case nil: nil
            }
        }
        #expect(route(.POST, "/v1/chat/completions") == "chat/completions")
        #expect(route(.POST, "/v1/chat/completions?x=1") == "chat/completions")
        #expect(route(.POST, "/v1/embeddings") == "embeddings")
        #expect(route(.GET, "/v1/models") == "models")
        #expect(route(.GET, "/v1/models/gpt-4o") == "model gpt-4o")
        #expect(route(.GET, "/v1/models/org/model%201?x=1") == "model org/model%201")
        #expect(route(.POST, "/v1/completions") == "completions")
        #expect(route(.GET, "/v1/responses/resp_1?include=x") == "GET response resp_1")
        #expect(route(.GET, "/v1/responses/resp_1/input_items") == "GET response resp_1/input_items")
        #expect(route(.DELETE, "/v1/responses/resp_1") == "DELETE response resp_1")
        for (method, uri) in [
            (HTTPMethod.GET, "/v1/responses/"), (.GET, "/v1/responses//input_items"), (.GET, "/v1/responses/resp_1/other"),
            (.DELETE, "/v1/responses/resp_1/input_items"), (.PUT, "/v1/responses/resp_1"), (.POST, "/v1/responses/resp_1/cancel"),
        ] {
            #expect(route(method, uri) == nil, "\(method) \(uri)")
        }
        for (method, uri) in [
            (HTTPMethod.GET, "/v1/chat/completions"), (.POST, "/v1/chat/completions/"), (.POST, "/v1/chat/completion"),
            (.POST, "/V1/chat/completions"), (.GET, "/v1/models/"), (.POST, "/v1/models/x"), (.POST, "/api/models"), (.GET, "/"),
            (.GET, "/v1/completions"),
        ] {
            #expect(route(method, uri) == nil, "\(method) \(uri)")
        }
    }

    @Test func healthAndReadinessNeedNoToken() async throws {
        try await GatewayHarness.withGateway { gateway in
            #expect(try await gateway.get("/health", token: nil).status == .ok)
            #expect(try await gateway.get("/ready", token: nil).status == .ok)
            let missing = try await gateway.get("/v2/nothing", token: nil)
            #expect(missing.status == .notFound)
            #expect(try await missing.errorObject()["code"] as? String == "not_found")
        }
    }

    @Test func generatedRequestIDsAreUniqueAndUnusableOnesAreReplaced() async throws {
        try await GatewayHarness.withGateway { gateway in
            let first = try await gateway.get("/health", token: nil).headers.first(name: "x-request-id")
            let second = try await gateway.get("/health", token: nil).headers.first(name: "x-request-id")
            #expect(first != nil && first != second)
            let response = try await gateway.post(
                "/v1/chat/completions", json: chatBody(model: "ok"), headers: [("x-request-id", String(repeating: "a", count: 500))])
            #expect(response.headers.first(name: "x-request-id")?.count == 24)
        }
    }

    @Test func requestIDsSortInTheOrderTheyWereMadeAndDifferWithinAMillisecond() {
        let sameMillisecond = (0..<1000).map { _ in RequestIdentifier.makeTimeOrdered(millisecondsSince1970: 1_765_000_000_000) }
        #expect(Set(sameMillisecond).count == 1000)
        #expect(sameMillisecond.allSatisfy { $0.count == 24 && $0.hasPrefix("019af232b200") && $0.allSatisfy(\.isHexDigit) })
        let times: [UInt64] = [0, 1, 255, 256, 1_765_000_000_000, 1_765_000_000_001, 1 << 47]
        let ids = times.map { RequestIdentifier.makeTimeOrdered(millisecondsSince1970: $0) }
        #expect(ids == ids.sorted())
        let millisecondsNow = UInt64(Date().timeIntervalSince1970 * 1000)
        let now = UInt64(RequestIdentifier.makeTimeOrdered().prefix(12), radix: 16) ?? 0
        #expect(now >= millisecondsNow && now < millisecondsNow + 60_000)
    }
}
