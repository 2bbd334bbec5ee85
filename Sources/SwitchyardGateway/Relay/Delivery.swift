import SwitchyardCore

/// How a request to one client endpoint reaches one backend, in the words `POST /api/routing/decide`
/// answers with. Follows the choices `UpstreamAdapters.start` makes.
struct Delivery: Equatable {
    enum Mode: String {
        /// Sent as it came, with only `model` rewritten.
        case passThrough = "pass_through"
        /// Put in another API's shape on the way out, the answer put back on the way in.
        case translated
        /// Answered by the built-in mock.
        case simulated
        /// Answered by the gateway itself, without calling the backend.
        case estimated
        /// Refused with a 400 before the backend is called.
        case refused
    }

    var mode: Mode
    var detail: String

    init(_ mode: Mode, _ detail: String) {
        self.mode = mode
        self.detail = detail
    }

    init(of endpoint: Endpoint, to backend: EffectiveConfiguration.Backend) {
        let format = backend.provider.spec.format
        switch endpoint {
        case .chatCompletions, .embeddings, .completions:
            if backend.speaksAnthropic && endpoint != .chatCompletions {
                self.init(.refused, AnthropicUpstream.unsupported(endpoint).message)
            } else if format == .mock {
                self.init(.simulated, "answered by the built-in mock" + (backend.speaksAnthropic ? " in Anthropic's format, translated back" : ""))
            } else if format == .anthropic {
                self.init(.translated, "translated to Anthropic's Messages API and back")
            } else {
                self.init(.passThrough, "passed through with only model rewritten")
            }
        case .responses:
            if backend.provider.spec.speaksResponses {
                self.init(.passThrough, "passed through to the provider's Responses API; stored responses stay there")
            } else {
                let onward = backend.speaksAnthropic ? ", then to Anthropic's Messages API," : ""
                let answer = format == .mock ? "answered by the built-in mock" : "sent"
                self.init(.translated, "translated to chat completions\(onward) and \(answer); the answer comes back as a response, not stored")
            }
        case .messages, .messagesCountTokens:
            if backend.speaksAnthropic {
                self.init(
                    format == .mock ? .simulated : .passThrough,
                    format == .mock ? "answered by the built-in mock in Anthropic's format" : "passed through with only model rewritten")
            } else if endpoint == .messagesCountTokens {
                self.init(.estimated, "estimated by the gateway (about four characters a token); marked x-switchyard-token-count: estimated")
            } else {
                self.init(.translated, "translated to chat completions and back into Anthropic's shape")
            }
        }
    }

    var json: JSONValue {
        .object(["mode": .string(mode.rawValue), "detail": .string(detail)])
    }
}
