import Testing

@testable import SwitchyardCore

/// OpenAI chat completion chunks in, Anthropic's "Streaming Messages" event flow out.
@Suite struct AnthropicClientStreamTranslatorTests {
    private func json(_ text: String) -> JSONValue {
        try! JSONValue.parse(Array(text.utf8))
    }

    private func chunk(_ choices: String, usage: String = "null") -> JSONValue {
        json(
            #"{"id":"chatcmpl-AbC","object":"chat.completion.chunk","created":1741570283,"model":"gpt-4o-mini-2024-07-18","choices":\#(choices),"usage":\#(usage)}"#
        )
    }

    @Test func textThenTwoToolCallsBecomeContentBlocks() throws {
        let chunks = [
            chunk(#"[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"finish_reason":null}]"#),
            chunk(#"[{"index":0,"delta":{"content":"Checking"},"finish_reason":null}]"#),
            chunk(#"[{"index":0,"delta":{"content":" both."},"finish_reason":null}]"#),
            chunk(
                #"[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"get_weather","arguments":""}}]},"finish_reason":null}]"#
            ),
            chunk(#"[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"location\":\"Paris\"}"}}]},"finish_reason":null}]"#),
            chunk(
                #"[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_2","type":"function","function":{"name":"get_weather","arguments":"{\"location\":"}}]},"finish_reason":null}]"#
            ),
            chunk(#"[{"index":0,"delta":{"tool_calls":[{"index":1,"function":{"arguments":"\"Lyon\"}"}}]},"finish_reason":null}]"#),
            chunk(#"[{"index":0,"delta":{},"finish_reason":"tool_calls"}]"#),
            chunk("[]", usage: #"{"prompt_tokens":2006,"completion_tokens":41,"total_tokens":2047,"prompt_tokens_details":{"cached_tokens":1920}}"#),
        ]
        var translator = AnthropicClientStreamTranslator(model: "chat")
        var output = chunks.map { translator.translate($0) }
        #expect(!translator.finished)
        output.append(translator.finish())
        #expect(
            output.map { $0.map(\.name) } == [
                ["message_start", "ping"],
                ["content_block_start", "content_block_delta"],
                ["content_block_delta"],
                ["content_block_stop", "content_block_start"],
                ["content_block_delta"],
                ["content_block_stop", "content_block_start", "content_block_delta"],
                ["content_block_delta"],
                [], [],
                ["content_block_stop", "message_delta", "message_stop"],
            ])
        let events = output.flatMap { $0 }
        #expect(events.allSatisfy { $0.data["type"] == .string($0.name) })
        #expect(
            events[0].data
                == json(
                    #"{"type":"message_start","message":{"id":"msg_chatcmpl-AbC","type":"message","role":"assistant","model":"chat","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":0,"output_tokens":0,"cache_read_input_tokens":0,"cache_creation_input_tokens":0}}}"#
                ))
        #expect(events[2].data == json(#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#))
        #expect(events[3].data == json(#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Checking"}}"#))
        #expect(events[5].data == json(#"{"type":"content_block_stop","index":0}"#))
        #expect(
            events[6].data
                == json(
                    #"{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"call_1","name":"get_weather","input":{}}}"#))
        #expect(
            events[7].data
                == json(#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"location\":\"Paris\"}"}}"#))
        #expect(events[9].data["content_block"]?["id"] == "call_2" && events[9].data["index"] == 2)
        #expect(events[10].data["delta"]?["partial_json"] == #"{"location":"#)
        #expect(
            events[13].data
                == json(
                    #"{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"input_tokens":86,"output_tokens":41,"cache_read_input_tokens":1920,"cache_creation_input_tokens":0}}"#
                ))
        #expect(events[14].data == json(#"{"type":"message_stop"}"#))
        #expect(translator.finished && translator.usage == TokenUsage(input: 2006, output: 41, cachedInput: 1920))
        #expect(translator.finish().isEmpty)
    }

    @Test func aPlainAnswerEndsTurnAndKeepsTheUpstreamModelWhenNoneIsGiven() {
        var translator = AnthropicClientStreamTranslator()
        let start = translator.translate(chunk(#"[{"index":0,"delta":{"role":"assistant","content":"Hi"},"finish_reason":"stop"}]"#))
        #expect(start.map(\.name) == ["message_start", "ping", "content_block_start", "content_block_delta"])
        #expect(start[0].data["message"]?["model"] == "gpt-4o-mini-2024-07-18")
        let end = translator.finish()
        #expect(end.map(\.name) == ["content_block_stop", "message_delta", "message_stop"])
        #expect(end[1].data["delta"]?["stop_reason"] == "end_turn")
        #expect(end[1].data["usage"]?["output_tokens"] == 0, "no usage chunk came: counted as nothing, and the gateway estimates")
    }

    @Test func anUpstreamErrorEndsTheStreamWithAnErrorEvent() {
        var translator = AnthropicClientStreamTranslator()
        _ = translator.translate(chunk(#"[{"index":0,"delta":{"content":"Hel"},"finish_reason":null}]"#))
        let failed = translator.translate(
            json(#"{"error":{"message":"The server had an error while processing your request.","type":"server_error"}}"#))
        #expect(failed.map(\.name) == ["error"])
        #expect(
            failed[0].data
                == json(#"{"type":"error","error":{"type":"api_error","message":"The server had an error while processing your request."}}"#))
        #expect(translator.finished && translator.finish().isEmpty)
    }
}
