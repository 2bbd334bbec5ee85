import Testing

@testable import SwitchyardCore

/// Requests as the `anthropic` SDK and tools built on it send them (Anthropic's "Messages"
/// reference: system blocks with `cache_control`, images, tool use and results), answers and
/// events as its "Messages", "Streaming Messages" and "Errors" references define them.
@Suite struct AnthropicClientTranslationTests {
    private func json(_ text: String) -> JSONValue {
        try! JSONValue.parse(Array(text.utf8))
    }

    @Test func aToolUseConversationBecomesAChatRequest() throws {
        let body = json(
            """
            {"model": "chat", "max_tokens": 1024, "temperature": 0.3, "top_p": 0.9, "top_k": 40, "stop_sequences": ["</answer>"], "stream": true,
             "metadata": {"user_id": "user-7f3a"}, "thinking": {"type": "enabled", "budget_tokens": 2048},
             "system": [{"type": "text", "text": "You are a weather assistant."},
               {"type": "text", "text": "Long style guide…", "cache_control": {"type": "ephemeral"}}],
             "messages": [
               {"role": "user", "content": [
                 {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/4AAQSkZJRg=="}},
                 {"type": "image", "source": {"type": "url", "url": "https://upload.wikimedia.org/map.png"}},
                 {"type": "text", "text": "What's the weather where this map points?", "cache_control": {"type": "ephemeral", "ttl": "1h"}}]},
               {"role": "assistant", "content": [
                 {"type": "thinking", "thinking": "The map shows Paris.", "signature": "EqQBCgIYAh"},
                 {"type": "text", "text": "Let me check."},
                 {"type": "tool_use", "id": "toolu_01A09q90qw90lq917835lq9", "name": "get_weather", "input": {"location": "Paris"}}]},
               {"role": "user", "content": [
                 {"type": "tool_result", "tool_use_id": "toolu_01A09q90qw90lq917835lq9", "content": [{"type": "text", "text": "18°C, sunny"}]},
                 {"type": "text", "text": "And tomorrow?"}]},
               {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_02", "name": "get_forecast", "input": {"days": 1}}]},
               {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_02", "content": "service unavailable", "is_error": true}]}],
             "tools": [
               {"name": "get_weather", "description": "Current weather", "input_schema": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]}},
               {"type": "custom", "name": "get_forecast", "input_schema": {"type": "object", "properties": {"location": {"type": "string"}, "days": {"type": "integer"}}},
                "cache_control": {"type": "ephemeral"}}],
             "tool_choice": {"type": "any", "disable_parallel_tool_use": true}}
            """
        ).objectValue!
        let translated = try AnthropicClientTranslation.chatRequest(from: body)
        let expected = json(
            """
            {"model": "chat", "max_completion_tokens": 1024, "temperature": 0.3, "top_p": 0.9, "stop": ["</answer>"], "user": "user-7f3a",
             "stream": true, "stream_options": {"include_usage": true}, "tool_choice": "required", "parallel_tool_calls": false,
             "messages": [
               {"role": "system", "content": "You are a weather assistant.\\n\\nLong style guide…"},
               {"role": "user", "content": [
                 {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/4AAQSkZJRg=="}},
                 {"type": "image_url", "image_url": {"url": "https://upload.wikimedia.org/map.png"}},
                 {"type": "text", "text": "What's the weather where this map points?"}]},
               {"role": "assistant", "content": "Let me check.",
                "tool_calls": [{"id": "toolu_01A09q90qw90lq917835lq9", "type": "function", "function": {"name": "get_weather", "arguments": "{\\"location\\":\\"Paris\\"}"}}]},
               {"role": "tool", "tool_call_id": "toolu_01A09q90qw90lq917835lq9", "content": "18°C, sunny"},
               {"role": "user", "content": "And tomorrow?"},
               {"role": "assistant", "content": null,
                "tool_calls": [{"id": "toolu_02", "type": "function", "function": {"name": "get_forecast", "arguments": "{\\"days\\":1}"}}]},
               {"role": "tool", "tool_call_id": "toolu_02", "content": "Error: service unavailable"}],
             "tools": [
               {"type": "function", "function": {"name": "get_weather", "description": "Current weather",
                 "parameters": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]}}},
               {"type": "function", "function": {"name": "get_forecast",
                 "parameters": {"type": "object", "properties": {"location": {"type": "string"}, "days": {"type": "integer"}}}}}]}
            """)
        #expect(JSONValue.object(translated.body) == expected)
        #expect(translated.cacheMarks == 3, "one system block, one text block, one tool")
    }

    @Test func toolChoiceForms() throws {
        func choice(_ text: String) throws -> JSONValue? {
            try AnthropicClientTranslation.chatRequest(
                from: json(#"{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"}],"tool_choice":\#(text)}"#).objectValue!
            ).body["tool_choice"]
        }
        #expect(try choice(#"{"type":"auto"}"#) == "auto")
        #expect(try choice(#"{"type":"none"}"#) == "none")
        #expect(try choice(#"{"type":"tool","name":"get_weather"}"#) == json(#"{"type":"function","function":{"name":"get_weather"}}"#))
    }

    @Test(arguments: [
        (#""container": "container_011""#, "container"),
        (#""mcp_servers": [{"type": "url", "url": "https://mcp.example.com/sse", "name": "x"}]"#, "mcp_servers"),
        (#""tools": [{"type": "web_search_20250305", "name": "web_search", "max_uses": 5}]"#, "tools[0].type"),
        (#""tools": [{"name": "f", "input_schema": {}}, {"type": "bash_20250124", "name": "bash"}]"#, "tools[1].type"),
        (
            #""messages": [{"role": "user", "content": [{"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0="}}]}]"#,
            "messages[0].content[0].type"
        ),
        (
            #""messages": [{"role": "user", "content": [{"type": "image", "source": {"type": "file", "file_id": "file_011"}}]}]"#,
            "messages[0].content[0].source.type"
        ),
        (
            #""messages": [{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": [{"type": "image", "source": {"type": "url", "url": "https://x/y.png"}}]}]}]"#,
            "messages[0].content[0].content[0].type"
        ),
        (#""messages": [{"role": "system", "content": "x"}]"#, "messages[0].role"),
        (#""messages": []"#, "messages"),
        (#""tool_choice": {"type": "function"}"#, "tool_choice.type"),
    ])
    func untranslatableRequestsAreRefusedByPath(member: String, param: String) {
        var body = json(#"{"model": "chat", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}"#).objectValue!
        for (key, value) in json("{\(member)}").objectValue! { body[key] = value }
        #expect {
            try AnthropicClientTranslation.chatRequest(from: body)
        } throws: { error in
            (error as? TranslationError)?.param == param
        }
    }

    @Test func aChatCompletionBecomesAMessageWithCachedTokens() {
        let completion = json(
            """
            {"id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG", "object": "chat.completion", "created": 1741570283, "model": "gpt-4o-2024-08-06",
             "choices": [{"index": 0, "finish_reason": "tool_calls", "logprobs": null,
               "message": {"role": "assistant", "content": "Let me check.", "refusal": null,
                 "tool_calls": [{"id": "call_Yh2k", "type": "function", "function": {"name": "get_weather", "arguments": "{\\"location\\":\\"Paris\\"}"}},
                   {"id": "call_Zq9r", "type": "function", "function": {"name": "get_time", "arguments": "not json"}}]}}],
             "usage": {"prompt_tokens": 2006, "completion_tokens": 300, "total_tokens": 2306, "prompt_tokens_details": {"cached_tokens": 1920}}}
            """)
        let expected = json(
            """
            {"id": "msg_chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG", "type": "message", "role": "assistant", "model": "chat",
             "content": [{"type": "text", "text": "Let me check."},
               {"type": "tool_use", "id": "call_Yh2k", "name": "get_weather", "input": {"location": "Paris"}},
               {"type": "tool_use", "id": "call_Zq9r", "name": "get_time", "input": {"arguments": "not json"}}],
             "stop_reason": "tool_use", "stop_sequence": null,
             "usage": {"input_tokens": 86, "output_tokens": 300, "cache_read_input_tokens": 1920, "cache_creation_input_tokens": 0}}
            """)
        #expect(AnthropicClientTranslation.message(completion, model: "chat") == expected)
        #expect(AnthropicClientTranslation.stopReason("stop") == "end_turn")
        #expect(AnthropicClientTranslation.stopReason("length") == "max_tokens")
        #expect(AnthropicClientTranslation.stopReason("content_filter") == "refusal")
    }

    @Test(arguments: [
        (400, "invalid_request_error"), (401, "authentication_error"), (403, "permission_error"), (404, "not_found_error"),
        (413, "request_too_large"), (429, "rate_limit_error"), (500, "api_error"), (502, "api_error"), (503, "overloaded_error"),
        (504, "timeout_error"), (529, "overloaded_error"),
    ])
    func statusesMapToAnthropicErrorTypes(status: Int, type: String) {
        #expect(AnthropicClientTranslation.errorType(forStatus: status) == type)
    }

    @Test func errorsTakeAnthropicsShape() {
        let limited = AnthropicClientTranslation.error(
            status: 429,
            openAIBody: json(
                #"{"error":{"message":"Rate limit reached for user alice.","type":"rate_limit_error","param":null,"code":"rate_limit_exceeded"}}"#))
        #expect(limited == json(#"{"type":"error","error":{"type":"rate_limit_error","message":"Rate limit reached for user alice."}}"#))
        let refused = AnthropicClientTranslation.error(
            TranslationError("the tool type 'bash_20250124' runs only at Anthropic", param: "tools[0].type"))
        #expect(
            refused["error"]
                == json(#"{"type":"invalid_request_error","message":"tools[0].type: the tool type 'bash_20250124' runs only at Anthropic"}"#))
        let event = AnthropicClientTranslation.errorEvent(status: 503, message: "Overloaded")
        #expect(String(decoding: event.bytes, as: UTF8.self).hasPrefix("event: error\ndata: {"))
        #expect(event.data["error"]?["type"] == "overloaded_error")
    }
}
