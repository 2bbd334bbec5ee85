import Testing

@testable import SwitchyardCore

/// Fixtures follow Anthropic's public API reference — "Messages" (request and response shapes),
/// "Streaming Messages" (event flow, `input_json_delta`, `error` events) and "Errors" (error
/// shapes and HTTP codes) — and OpenAI's "Chat Completions" reference (request, response, chunk).
@Suite struct AnthropicTranslationTests {
    private func json(_ text: String) -> JSONValue {
        try! JSONValue.parse(Array(text.utf8))
    }

    @Test func requestsBecomeMessagesWithSystemToolsAndAlternatingTurns() throws {
        let body = json(
            """
            {"model": "chat", "user": "alice", "temperature": 1.6, "top_p": 0.9, "stop": "END", "parallel_tool_calls": false,
             "messages": [
               {"role": "system", "content": "Be brief."},
               {"role": "developer", "content": [{"type": "text", "text": "Answer in French."}]},
               {"role": "user", "content": "What's the weather in Paris?"},
               {"role": "assistant", "content": null,
                "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\\"location\\":\\"Paris\\"}"}}]},
               {"role": "tool", "tool_call_id": "call_1", "content": "18°C, sunny"},
               {"role": "user", "content": [{"type": "text", "text": "And tomorrow?"},
                 {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
                 {"type": "image_url", "image_url": {"url": "https://example.com/map.jpg"}}]}],
             "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Weather by city",
               "parameters": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]}}}],
             "tool_choice": {"type": "function", "function": {"name": "get_weather"}}}
            """
        ).objectValue!
        let request = try AnthropicTranslation.request(from: body, model: "claude-sonnet-4-5", stream: true)
        let expected = json(
            """
            {"model": "claude-sonnet-4-5", "max_tokens": 4096, "system": "Be brief.\\n\\nAnswer in French.", "temperature": 1, "top_p": 0.9,
             "stop_sequences": ["END"], "metadata": {"user_id": "alice"}, "stream": true,
             "messages": [
               {"role": "user", "content": [{"type": "text", "text": "What's the weather in Paris?"}]},
               {"role": "assistant", "content": [{"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"location": "Paris"}}]},
               {"role": "user", "content": [
                 {"type": "tool_result", "tool_use_id": "call_1", "content": "18°C, sunny"},
                 {"type": "text", "text": "And tomorrow?"},
                 {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
                 {"type": "image", "source": {"type": "url", "url": "https://example.com/map.jpg"}}]}],
             "tools": [{"name": "get_weather", "description": "Weather by city",
               "input_schema": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]}}],
             "tool_choice": {"type": "tool", "name": "get_weather", "disable_parallel_tool_use": true}}
            """)
        #expect(request == expected)
    }

    @Test func maxTokensAndToolChoiceForms() throws {
        func translated(_ extra: String) throws -> JSONValue {
            try AnthropicTranslation.request(
                from: json(#"{"model":"m","messages":[{"role":"user","content":"hi"}]\#(extra)}"#).objectValue!, model: "c", stream: false)
        }
        #expect(try translated(#","max_tokens":50"#)["max_tokens"] == .number(50))
        #expect(try translated(#","max_tokens":50,"max_completion_tokens":70"#)["max_tokens"] == .number(70))
        #expect(try translated(#","tool_choice":"required""#)["tool_choice"] == json(#"{"type":"any"}"#))
        #expect(try translated(#","tool_choice":"none""#)["tool_choice"] == json(#"{"type":"none"}"#))
        #expect(try translated(#","stop":["a","b"]"#)["stop_sequences"] == json(#"["a","b"]"#))
        #expect(try translated("")["stream"] == nil)
        #expect(throws: TranslationError("Anthropic models return one choice; 'n' must be 1", param: "n")) { try translated(#","n":2"#) }
        #expect(throws: TranslationError.self) { try translated(#","tool_choice":7"#) }
        #expect(throws: TranslationError.self) {
            try AnthropicTranslation.request(
                from: json(#"{"messages":[{"role":"user","content":[{"type":"input_audio"}]}]}"#).objectValue!, model: "c", stream: false)
        }
        #expect(throws: TranslationError.self) {
            try AnthropicTranslation.request(from: json(#"{"messages":[{"role":"system","content":"x"}]}"#).objectValue!, model: "c", stream: false)
        }
    }

    @Test func responsesBecomeChatCompletions() {
        // Messages → "Response" example, with a tool_use block as in "Tool use" → "Example".
        let message = json(
            """
            {"id": "msg_01XFDUDYJgAACzvnptvVoYEL", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
             "content": [{"type": "text", "text": "Let me check."},
               {"type": "tool_use", "id": "toolu_01A09q90qw90lq917835lq9", "name": "get_weather", "input": {"location": "Paris"}}],
             "stop_reason": "tool_use", "stop_sequence": null,
             "usage": {"input_tokens": 2095, "output_tokens": 503, "cache_read_input_tokens": 5}}
            """)
        let expected = json(
            """
            {"id": "msg_01XFDUDYJgAACzvnptvVoYEL", "object": "chat.completion", "created": 1700000000, "model": "claude-sonnet-4-5",
             "choices": [{"index": 0, "logprobs": null, "finish_reason": "tool_calls",
               "message": {"role": "assistant", "content": "Let me check.",
                 "tool_calls": [{"id": "toolu_01A09q90qw90lq917835lq9", "type": "function",
                   "function": {"name": "get_weather", "arguments": "{\\"location\\":\\"Paris\\"}"}}]}}],
             "usage": {"prompt_tokens": 2100, "completion_tokens": 503, "total_tokens": 2603,
               "prompt_tokens_details": {"cached_tokens": 5, "cache_write_tokens": 0}}}
            """)
        #expect(AnthropicTranslation.response(message, created: 1_700_000_000) == expected)
        #expect(AnthropicTranslation.finishReason("end_turn") == "stop")
        #expect(AnthropicTranslation.finishReason("stop_sequence") == "stop")
        #expect(AnthropicTranslation.finishReason("max_tokens") == "length")
        #expect(AnthropicTranslation.finishReason("refusal") == "content_filter")
    }

    @Test func cacheControlOnChatPartsBecomesAnthropicCacheControl() throws {
        // Clients that know their chat request goes to Claude mark parts as OpenRouter and LiteLLM take them.
        let body = json(
            """
            {"model": "chat", "messages": [
               {"role": "system", "content": [{"type": "text", "text": "You are terse."},
                 {"type": "text", "text": "Long reference manual…", "cache_control": {"type": "ephemeral", "ttl": "1h"}}]},
               {"role": "user", "content": [{"type": "text", "text": "Summarise the manual.", "cache_control": {"type": "ephemeral"}},
                 {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}, "cache_control": {"type": "ephemeral"}}]},
               {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "search", "arguments": "{}"}}]},
               {"role": "tool", "tool_call_id": "call_1", "content": [{"type": "text", "text": "results…", "cache_control": {"type": "ephemeral"}}]}],
             "tools": [{"type": "function", "function": {"name": "search"}, "cache_control": {"type": "ephemeral"}}]}
            """
        ).objectValue!
        let request = try AnthropicTranslation.request(from: body, model: "claude-sonnet-4-5", stream: false)
        #expect(
            request["system"]
                == json(
                    #"[{"type": "text", "text": "You are terse."}, {"type": "text", "text": "Long reference manual…", "cache_control": {"type": "ephemeral", "ttl": "1h"}}]"#
                ))
        let messages = try #require(request["messages"]?.arrayValue)
        #expect(
            messages[0]["content"]
                == json(
                    #"[{"type": "text", "text": "Summarise the manual.", "cache_control": {"type": "ephemeral"}}, {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}, "cache_control": {"type": "ephemeral"}}]"#
                ))
        #expect(
            messages[2]["content"]
                == json(#"[{"type": "tool_result", "tool_use_id": "call_1", "content": "results…", "cache_control": {"type": "ephemeral"}}]"#))
        #expect(request["tools"]?.arrayValue?.first?["cache_control"] == json(#"{"type": "ephemeral"}"#))
        // Without marks the system prompt stays one string, as before.
        let plain = try AnthropicTranslation.request(
            from: json(#"{"messages": [{"role": "system", "content": [{"type": "text", "text": "a"}]}, {"role": "user", "content": "b"}]}"#)
                .objectValue!,
            model: "c", stream: false)
        #expect(plain["system"] == "a")
    }

    @Test func cacheReadsAndWritesStayApartFromPlainInput() {
        // Prompt caching → "Tracking cache performance": a stream whose message_start reports cache reads and writes.
        var translator = AnthropicStreamTranslator(created: 0, includeUsage: true)
        _ = translator.translate(
            json(
                #"{"type":"message_start","message":{"id":"m","model":"c","usage":{"input_tokens":21,"cache_creation_input_tokens":188,"cache_read_input_tokens":1800,"output_tokens":1}}}"#
            ))
        _ = translator.translate(
            json(#"{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":393}}"#))
        let end = translator.translate(json(#"{"type":"message_stop"}"#))
        #expect(
            json(end[0])["usage"]
                == json(
                    #"{"prompt_tokens":2009,"completion_tokens":393,"total_tokens":2402,"prompt_tokens_details":{"cached_tokens":1800,"cache_write_tokens":188}}"#
                ))
        #expect(translator.usage == TokenUsage(input: 2009, output: 393, cachedInput: 1800, cacheWrite: 188))
        // A message_delta that repeats the input counts (newer API versions) replaces them.
        var usage = translator.usage
        usage.merge(anthropic: json(#"{"input_tokens":30,"output_tokens":400}"#))
        #expect(usage == TokenUsage(input: 2018, output: 400, cachedInput: 1800, cacheWrite: 188))
        #expect(TokenUsage(chat: usage.chatJSON) == usage && TokenUsage(anthropic: usage.anthropicJSON) == usage)
    }

    @Test func errorsKeepTheirMeaning() {
        // Errors → "HTTP errors": 529 overloaded_error, 400 invalid_request_error, 429 rate_limit_error.
        let overloaded = AnthropicTranslation.error(
            status: 529, body: json(#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#))
        #expect(overloaded.status == 503)
        #expect(overloaded.body == json(#"{"error":{"message":"Overloaded","type":"server_error","param":null,"code":"overloaded_error"}}"#))
        let invalid = AnthropicTranslation.error(
            status: 400, body: json(#"{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: too large"}}"#))
        #expect(invalid.status == 400 && invalid.body["error"]?["type"] == "invalid_request_error")
        let limited = AnthropicTranslation.error(status: 429, body: nil)
        #expect(limited.status == 429 && limited.body["error"]?["message"] == "The Anthropic upstream answered HTTP 429.")
    }

    @Test func streamsTranslateEventByEvent() {
        // "Streaming Messages" → "Basic streaming request" and "Streaming request with tool use".
        let events = [
            #"{"type":"message_start","message":{"id":"msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY","type":"message","role":"assistant","content":[],"model":"claude-sonnet-4-5","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":25,"output_tokens":1}}}"#,
            #"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
            #"{"type":"ping"}"#,
            #"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}"#,
            #"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"!"}}"#,
            #"{"type":"content_block_stop","index":0}"#,
            #"{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_01T1x1fJ34qAmk2tNTrN7Up6","name":"get_weather","input":{}}}"#,
            #"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"location\": \"San Fra"}}"#,
            #"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"ncisco, CA\"}"}}"#,
            #"{"type":"content_block_stop","index":1}"#,
            #"{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":89}}"#,
            #"{"type":"message_stop"}"#,
        ]
        var translator = AnthropicStreamTranslator(created: 1_700_000_000, includeUsage: true)
        var output: [[String]] = []
        for event in events {
            output.append(translator.translate(json(event)))
            #expect(!translator.finished || event.contains("message_stop"), "nothing waits for the end")
        }
        #expect(output.map(\.count) == [1, 0, 0, 1, 1, 0, 1, 1, 1, 0, 1, 2])
        func chunk(_ text: String) -> JSONValue { json(text) }
        let head = #""id":"msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY","object":"chat.completion.chunk","created":1700000000,"model":"claude-sonnet-4-5""#
        #expect(
            chunk(output[0][0])
                == json(#"{\#(head),"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null,"logprobs":null}]}"#))
        #expect(chunk(output[3][0])["choices"]?.arrayValue?.first?["delta"] == json(#"{"content":"Hello"}"#))
        #expect(
            chunk(output[6][0])["choices"]?.arrayValue?.first?["delta"]
                == json(
                    #"{"tool_calls":[{"index":0,"id":"toolu_01T1x1fJ34qAmk2tNTrN7Up6","type":"function","function":{"name":"get_weather","arguments":""}}]}"#
                ))
        #expect(
            chunk(output[8][0])["choices"]?.arrayValue?.first?["delta"]
                == json(#"{"tool_calls":[{"index":0,"function":{"arguments":"ncisco, CA\"}"}}]}"#))
        #expect(chunk(output[10][0])["choices"]?.arrayValue?.first?["finish_reason"] == "tool_calls")
        #expect(
            chunk(output[11][0])
                == json(
                    #"{\#(head),"choices":[],"usage":{"prompt_tokens":25,"completion_tokens":89,"total_tokens":114,"prompt_tokens_details":{"cached_tokens":0,"cache_write_tokens":0}}}"#
                ))
        #expect(output[11][1] == "[DONE]")
        #expect(translator.finished && translator.failure == nil)
    }

    @Test func anErrorEventEndsTheStreamAsAFailure() {
        // "Streaming Messages" → "Error events": `event: error` with an overloaded_error mid-stream.
        var translator = AnthropicStreamTranslator(created: 0, includeUsage: false)
        _ = translator.translate(json(#"{"type":"message_start","message":{"id":"m","model":"c","usage":{"input_tokens":3}}}"#))
        let output = translator.translate(json(#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#))
        #expect(output.isEmpty, "no [DONE]: the relay ends the stream with its error event")
        #expect(translator.finished)
        #expect(translator.failure?.status == 503)
        #expect(translator.failure?.body["error"]?["message"] == "Overloaded")
    }

    @Test func withoutIncludeUsageTheStreamEndsWithDoneOnly() {
        var translator = AnthropicStreamTranslator(created: 0, includeUsage: false)
        #expect(translator.translate(json(#"{"type":"message_stop"}"#)) == ["[DONE]"])
    }
}
