import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import Synchronization

/// An OpenAI-compatible upstream for tests, on 127.0.0.1 at a port chosen by the system. The upstream
/// model name picks its behaviour: `ok`, `slow-stream`, `cut-stream`, `end-after-done-text`, `error-500`, `html-502`, `stall`.
final class TestUpstream: Sendable {
    static let chunkInterval = Duration.milliseconds(200)
    /// How long `late-head` waits before answering and `late-token` before its first chunk.
    static let lateWait = Duration.milliseconds(600)
    private let received = Mutex<[(path: String, headers: HTTPFields, json: Data)]>([])

    var requests: [(path: String, headers: HTTPFields, json: [String: Any])] {
        received.withLock { $0 }.map { ($0.path, $0.headers, (try? JSONSerialization.jsonObject(with: $0.json)) as? [String: Any] ?? [:]) }
    }

    func application(onPort: @escaping @Sendable (Int) -> Void) -> some ApplicationProtocol {
        let router = Router()
        router.post("/v1/chat/completions") { request, context -> Response in
            try await self.chat(request, context: context)
        }
        router.get("/v1/models") { _, _ -> Response in
            Self.json(#"{"object":"list","data":[{"id":"ok","object":"model"}]}"#)
        }
        router.post("/v1/embeddings") { request, context -> Response in
            let body = try await request.body.collect(upTo: 1 << 20)
            self.remember(request, body)
            return Self.json(
                #"{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.5,0.5]}],"model":"e","usage":{"prompt_tokens":3,"total_tokens":3}}"#
            )
        }
        var logger = Logger(label: "test-upstream")
        logger.logLevel = .warning
        return Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in onPort(channel.localAddress!.port!) }, logger: logger)
    }

    private func remember(_ request: Request, _ body: ByteBuffer) {
        received.withLock { $0.append((request.uri.path, request.headers, Data(body.readableBytesView))) }
    }

    private func chat(_ request: Request, context: BasicRequestContext) async throws -> Response {
        let body = try await request.body.collect(upTo: 1 << 20)
        remember(request, body)
        let json = (try JSONSerialization.jsonObject(with: Data(body.readableBytesView))) as? [String: Any] ?? [:]
        let model = json["model"] as? String ?? "ok"
        let stream = json["stream"] as? Bool ?? false
        let includeUsage = (json["stream_options"] as? [String: Any])?["include_usage"] as? Bool ?? false
        switch model {
        case "error-500":
            return Self.json(#"{"error":{"message":"upstream broke","type":"server_error","param":null,"code":null}}"#, status: .internalServerError)
        case "html-502":
            return Response(
                status: .badGateway, headers: [.contentType: "text/html"], body: .init(byteBuffer: ByteBuffer(string: "<html>bad</html>")))
        case "stall":
            try await Task.sleep(for: .seconds(3))
            return Self.json("{}")
        case "late-head":
            try await Task.sleep(for: Self.lateWait)
        default:
            break
        }
        guard stream else {
            return Self.json(
                #"{"id":"c1","object":"chat.completion","created":1,"model":"\#(model)","choices":[{"index":0,"message":{"role":"assistant","content":"hello"},"finish_reason":"stop"}],"usage":{"prompt_tokens":7,"completion_tokens":2,"total_tokens":9}}"#
            )
        }
        // `end-after-done-text`'s answer quotes the end marker, then ends (cleanly, without the marker).
        let quotesTheEnd = model == "end-after-done-text"
        let pieces = quotesTheEnd ? ["streams end with ", "data: [DONE] "] : ["one ", "two ", "three ", "four ", "five"]
        return Response(
            status: .ok, headers: [.contentType: "text/event-stream"],
            body: ResponseBody { writer in
                if model == "late-token" { try await Task.sleep(for: Self.lateWait) }
                for (index, piece) in pieces.enumerated() {
                    if model == "cut-stream" && index == 2 {
                        try await Task.sleep(for: .milliseconds(50))  // let the first chunks leave
                        throw CancellationError()  // drops the connection mid-answer
                    }
                    if model == "slow-stream" && index > 0 { try await Task.sleep(for: Self.chunkInterval) }
                    try await writer.write(
                        ByteBuffer(
                            string:
                                #"data: {"id":"s1","object":"chat.completion.chunk","created":1,"model":"\#(model)","choices":[{"index":0,"delta":{"content":"\#(piece)"},"finish_reason":null}]}"#
                                + "\n\n"))
                }
                if includeUsage {
                    try await writer.write(
                        ByteBuffer(
                            string:
                                #"data: {"id":"s1","object":"chat.completion.chunk","created":1,"model":"\#(model)","choices":[],"usage":{"prompt_tokens":11,"completion_tokens":5,"total_tokens":16}}"#
                                + "\n\n"))
                }
                if !quotesTheEnd { try await writer.write(ByteBuffer(string: "data: [DONE]\n\n")) }
                try await writer.finish(nil)
            })
    }

    static func json(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}
