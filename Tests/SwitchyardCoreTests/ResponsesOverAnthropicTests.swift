import Testing

@testable import SwitchyardCore

/// Responses API clients in front of Anthropic backends: Responses → chat → Messages on the way
/// in, Messages → chat → Responses on the way out, each step one of the tested translations.
@Suite struct ResponsesOverAnthropicTests {
    private func json(_ text: String) -> JSONValue {
        try! JSONValue.parse(Array(text.utf8))
    }

    @Test func aResponsesRequestReachesAnthropicWithItsCacheBreakpoint() throws {
        let body = json(
            """
            {"model": "chat", "instructions": "Be brief.", "max_output_tokens": 200, "temperature": 0.4, "stream": true,
             "input": [
               {"role": "user", "content": [{"type": "input_text", "text": "Policy text…", "prompt_cache_breakpoint": {"mode": "explicit"}},
                 {"type": "input_text", "text": "Weather in Paris?"}]},
               {"type": "function_call", "call_id": "toolu_01A", "name": "get_weather", "arguments": "{\\"city\\":\\"Paris\\"}"},
               {"type": "function_call_output", "call_id": "toolu_01A", "output": "18°C"}],
             "tools": [{"type": "function", "name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}],
             "tool_choice": "required"}
            """
        ).objectValue!
        let chat = try ResponsesTranslation.chatRequest(from: body, keepCacheMarks: true)
        let anthropic = try AnthropicTranslation.request(from: chat.body, model: "claude-sonnet-4-5", stream: true)
        let expected = json(
            """
            {"model": "claude-sonnet-4-5", "max_tokens": 200, "temperature": 0.4, "stream": true, "system": "Be brief.",
             "messages": [
               {"role": "user", "content": [{"type": "text", "text": "Policy text…", "cache_control": {"type": "ephemeral"}},
                 {"type": "text", "text": "Weather in Paris?"}]},
               {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_01A", "name": "get_weather", "input": {"city": "Paris"}}]},
               {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_01A", "content": "18°C"}]}],
             "tools": [{"name": "get_weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}],
             "tool_choice": {"type": "any"}}
            """)
        #expect(anthropic == expected)
    }

    @Test func anAnthropicMessageComesBackAsAResponseWithCachedTokens() {
        let message = json(
            """
            {"id": "msg_01XFDUDYJgAACzvnptvVoYEL", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
             "content": [{"type": "text", "text": "Sunny, 18°C."}], "stop_reason": "end_turn", "stop_sequence": null,
             "usage": {"input_tokens": 21, "cache_creation_input_tokens": 188, "cache_read_input_tokens": 1800, "output_tokens": 9}}
            """)
        let completion = AnthropicTranslation.response(message, created: 1_700_000_000)
        let response = ResponsesTranslation.response(completion, request: [:], id: "resp_9", createdAt: 1_700_000_000)
        #expect(response["status"] == "completed")
        #expect(response["output"]?.arrayValue?.first?["content"]?.arrayValue?.first?["text"] == "Sunny, 18°C.")
        #expect(
            response["usage"]
                == json(
                    #"{"input_tokens": 2009, "input_tokens_details": {"cached_tokens": 1800, "cache_write_tokens": 188}, "output_tokens": 9, "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 2018}"#
                ))
    }

    @Test func anAnthropicStreamBecomesResponsesEvents() throws {
        let events = [
            #"{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],"model":"claude-sonnet-4-5","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":25,"cache_read_input_tokens":1000,"cache_creation_input_tokens":0,"output_tokens":1}}}"#,
            #"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
            #"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}"#,
            #"{"type":"content_block_stop","index":0}"#,
            #"{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_01T1","name":"get_weather","input":{}}}"#,
            #"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"city\": \"Paris\"}"}}"#,
            #"{"type":"content_block_stop","index":1}"#,
            #"{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":30}}"#,
            #"{"type":"message_stop"}"#,
        ]
        var anthropic = AnthropicStreamTranslator(created: 0, includeUsage: true)
        var responses = ResponsesStreamTranslator(responseID: "resp_2", createdAt: 0, request: [:])
        var output: [ServerSentEvent] = []
        for event in events {
            for payload in anthropic.translate(json(event)) {
                output += payload == "[DONE]" ? responses.finish() : responses.translate(json(payload))
            }
        }
        #expect(responses.finished)
        #expect(output.first?.name == "response.created" && output.last?.name == "response.completed")
        let completed = try #require(output.last?.data["response"])
        #expect(completed["output"]?.arrayValue?.map { $0["type"] } == ["message", "function_call"])
        #expect(completed["output"]?.arrayValue?.last?["call_id"] == "toolu_01T1")
        #expect(completed["output"]?.arrayValue?.last?["arguments"] == #"{"city": "Paris"}"#)
        #expect(completed["usage"]?["input_tokens"] == 1025 && completed["usage"]?["input_tokens_details"]?["cached_tokens"] == 1000)
        #expect(responses.usage == TokenUsage(input: 1025, output: 30, cachedInput: 1000))
    }
}
