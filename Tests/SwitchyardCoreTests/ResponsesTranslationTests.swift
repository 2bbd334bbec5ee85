import Testing

@testable import SwitchyardCore

/// Fixtures follow OpenAI's API reference for "Responses" (create: input items, function tools,
/// `text.format`; the response object and its usage) and "Chat Completions" (request, response),
/// in the shapes the `openai` Python SDK's types define.
@Suite struct ResponsesTranslationTests {
    private func json(_ text: String) -> JSONValue {
        try! JSONValue.parse(Array(text.utf8))
    }

    private func request(_ text: String) -> [String: JSONValue] {
        json(text).objectValue!
    }

    @Test func anAgentTurnBecomesAChatRequest() throws {
        // A second turn as agent frameworks send it: history replayed as items, function tool, structured output.
        let body = request(
            """
            {"model": "chat", "instructions": "You are a weather assistant.", "user": "alice", "temperature": 0.2, "top_p": 0.9,
             "max_output_tokens": 300, "parallel_tool_calls": false, "stream": true, "store": false, "metadata": {"trace": "t-1"},
             "include": ["reasoning.encrypted_content"], "truncation": "disabled", "reasoning": {"effort": "low", "summary": "auto"},
             "prompt_cache_key": "weather-v2",
             "input": [
               {"role": "user", "content": [{"type": "input_text", "text": "Weather in Paris? Here is the map."},
                 {"type": "input_image", "image_url": "https://example.com/map.png", "detail": "low"},
                 {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0KGgo=", "detail": "auto"}]},
               {"type": "reasoning", "id": "rs_68af", "summary": [], "encrypted_content": "gAAAA"},
               {"type": "message", "id": "msg_68af1", "role": "assistant", "status": "completed",
                "content": [{"type": "output_text", "text": "Let me check.", "annotations": []}]},
               {"type": "function_call", "id": "fc_68af2", "call_id": "call_Yh2k", "name": "get_weather", "arguments": "{\\"city\\":\\"Paris\\"}", "status": "completed"},
               {"type": "function_call", "id": "fc_68af3", "call_id": "call_Zq9r", "name": "get_weather", "arguments": "{\\"city\\":\\"Lyon\\"}", "status": "completed"},
               {"type": "function_call_output", "call_id": "call_Yh2k", "output": "18°C, sunny"},
               {"type": "function_call_output", "call_id": "call_Zq9r", "output": [{"type": "input_text", "text": "21°C"}]},
               {"role": "developer", "content": "Answer in one sentence."},
               {"role": "user", "content": "And tomorrow?"}],
             "tools": [{"type": "function", "name": "get_weather", "description": "Current weather for a city", "strict": true,
               "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"], "additionalProperties": false}}],
             "tool_choice": {"type": "function", "name": "get_weather"},
             "text": {"format": {"type": "json_schema", "name": "forecast", "strict": true,
               "schema": {"type": "object", "properties": {"summary": {"type": "string"}}, "required": ["summary"]}}, "verbosity": "low"}}
            """)
        let translated = try ResponsesTranslation.chatRequest(from: body)
        let expected = json(
            """
            {"model": "chat", "user": "alice", "temperature": 0.2, "top_p": 0.9, "max_completion_tokens": 300, "parallel_tool_calls": false,
             "stream": true, "stream_options": {"include_usage": true}, "reasoning_effort": "low", "prompt_cache_key": "weather-v2",
             "messages": [
               {"role": "system", "content": "You are a weather assistant."},
               {"role": "user", "content": [{"type": "text", "text": "Weather in Paris? Here is the map."},
                 {"type": "image_url", "image_url": {"url": "https://example.com/map.png", "detail": "low"}},
                 {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "auto"}}]},
               {"role": "assistant", "content": "Let me check.", "tool_calls": [
                 {"id": "call_Yh2k", "type": "function", "function": {"name": "get_weather", "arguments": "{\\"city\\":\\"Paris\\"}"}},
                 {"id": "call_Zq9r", "type": "function", "function": {"name": "get_weather", "arguments": "{\\"city\\":\\"Lyon\\"}"}}]},
               {"role": "tool", "tool_call_id": "call_Yh2k", "content": "18°C, sunny"},
               {"role": "tool", "tool_call_id": "call_Zq9r", "content": "21°C"},
               {"role": "system", "content": "Answer in one sentence."},
               {"role": "user", "content": "And tomorrow?"}],
             "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Current weather for a city", "strict": true,
               "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"], "additionalProperties": false}}}],
             "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
             "response_format": {"type": "json_schema", "json_schema": {"name": "forecast", "strict": true,
               "schema": {"type": "object", "properties": {"summary": {"type": "string"}}, "required": ["summary"]}}},
             "verbosity": "low"}
            """)
        #expect(JSONValue.object(translated.body) == expected)
        #expect(translated.cacheMarks == 0)
    }

    @Test func aStringInputIsOneUserMessage() throws {
        let translated = try ResponsesTranslation.chatRequest(
            from: request(#"{"model": "chat", "input": "Tell me a joke.", "tool_choice": "required"}"#))
        #expect(
            JSONValue.object(translated.body)
                == json(#"{"model": "chat", "tool_choice": "required", "messages": [{"role": "user", "content": "Tell me a joke."}]}"#))
        #expect(
            try ResponsesTranslation.chatRequest(from: request(#"{"input": "x", "text": {"format": {"type": "json_object"}}}"#)).body[
                "response_format"] == json(#"{"type": "json_object"}"#))
        #expect(
            try ResponsesTranslation.chatRequest(
                from: request(#"{"input": "x", "background": false, "top_logprobs": 0, "previous_response_id": null}"#)
            ).body["messages"] != nil)
    }

    @Test(arguments: [
        (#""previous_response_id": "resp_abc""#, "previous_response_id"),
        (#""conversation": "conv_123""#, "conversation"),
        (#""background": true"#, "background"),
        (#""prompt": {"id": "pmpt_1", "version": "2"}"#, "prompt"),
        (#""top_logprobs": 5"#, "top_logprobs"),
        (#""moderation": {"model": "omni-moderation-latest"}"#, "moderation"),
        (#""tools": [{"type": "web_search"}]"#, "tools[0].type"),
        (#""tools": [{"type": "function", "name": "f"}, {"type": "file_search", "vector_store_ids": ["vs_1"]}]"#, "tools[1].type"),
        (#""tools": [{"type": "code_interpreter", "container": {"type": "auto"}}]"#, "tools[0].type"),
        (#""tool_choice": {"type": "web_search_preview"}"#, "tool_choice.type"),
        (#""text": {"format": {"type": "grammar"}}"#, "text.format.type"),
    ])
    func untranslatableMembersAreRefusedByName(member: String, param: String) {
        let body = request(#"{"model": "chat", "input": "hi", \#(member)}"#)
        #expect {
            try ResponsesTranslation.chatRequest(from: body)
        } throws: { error in
            (error as? TranslationError)?.param == param
        }
    }

    @Test(arguments: [
        (#"[{"type": "item_reference", "id": "msg_1"}]"#, "input[0]"),
        (#"[{"role": "user", "content": "x"}, {"type": "web_search_call", "id": "ws_1", "status": "completed"}]"#, "input[1].type"),
        (#"[{"role": "user", "content": [{"type": "input_image", "file_id": "file-abc", "detail": "auto"}]}]"#, "input[0].content[0]"),
        (#"[{"role": "user", "content": [{"type": "input_file", "file_url": "https://example.com/a.pdf"}]}]"#, "input[0].content[0]"),
        (#"[{"role": "system", "content": [{"type": "input_image", "image_url": "https://example.com/a.png"}]}]"#, "input[0].content[0].type"),
        (
            #"[{"type": "function_call_output", "call_id": "c", "output": [{"type": "input_image", "image_url": "https://x/y.png"}]}]"#,
            "input[0].output[0].type"
        ),
        (#"[{"role": "tool", "content": "x"}]"#, "input[0].role"),
        (#"[{"role": "system", "content": "only instructions"}]"#, "input"),
    ])
    func untranslatableInputItemsAreRefusedByPath(input: String, param: String) {
        #expect {
            try ResponsesTranslation.chatRequest(from: request(#"{"model": "chat", "input": \#(input)}"#))
        } throws: { error in
            (error as? TranslationError)?.param == param
        }
    }

    @Test func cacheBreakpointsAreCountedAndKeptOnlyWhenAsked() throws {
        let body = request(
            """
            {"model": "chat", "input": [{"role": "system", "content": [{"type": "input_text", "text": "Long policy…",
               "prompt_cache_breakpoint": {"mode": "explicit", "ttl": "30m"}}]},
             {"role": "user", "content": [{"type": "input_text", "text": "Question"}]}]}
            """)
        let dropped = try ResponsesTranslation.chatRequest(from: body)
        #expect(dropped.cacheMarks == 1)
        #expect(dropped.body["messages"]?.arrayValue?.first?["content"] == json(#"[{"type": "text", "text": "Long policy…"}]"#))
        let kept = try ResponsesTranslation.chatRequest(from: body, keepCacheMarks: true)
        #expect(kept.cacheMarks == 1)
        #expect(
            kept.body["messages"]?.arrayValue?.first?["content"]
                == json(#"[{"type": "text", "text": "Long policy…", "cache_control": {"type": "ephemeral"}}]"#))
    }

    @Test func aChatCompletionBecomesAResponse() {
        let completion = json(
            """
            {"id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG", "object": "chat.completion", "created": 1741570283, "model": "gpt-4o-2024-08-06",
             "choices": [{"index": 0, "finish_reason": "tool_calls", "logprobs": null,
               "message": {"role": "assistant", "content": "Checking both cities.", "refusal": null, "annotations": [],
                 "tool_calls": [{"id": "call_Yh2k", "type": "function", "function": {"name": "get_weather", "arguments": "{\\"city\\":\\"Paris\\"}"}}]}}],
             "usage": {"prompt_tokens": 1117, "completion_tokens": 46, "total_tokens": 1163,
               "prompt_tokens_details": {"cached_tokens": 1024, "audio_tokens": 0},
               "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0}}}
            """)
        let request = request(#"{"model": "chat", "input": "hi", "temperature": 0.5, "metadata": {"trace": "t-1"}, "max_output_tokens": 500}"#)
        let response = ResponsesTranslation.response(completion, request: request, id: "resp_0a1b", createdAt: 1_741_570_283)
        let expected = json(
            """
            {"id": "resp_0a1b", "object": "response", "created_at": 1741570283, "status": "completed", "background": false, "error": null,
             "incomplete_details": null, "instructions": null, "max_output_tokens": 500, "metadata": {"trace": "t-1"}, "model": "gpt-4o-2024-08-06",
             "output": [
               {"id": "msg_0a1b_0", "type": "message", "status": "completed", "role": "assistant",
                "content": [{"type": "output_text", "text": "Checking both cities.", "annotations": [], "logprobs": []}]},
               {"id": "fc_0a1b_1", "type": "function_call", "status": "completed", "call_id": "call_Yh2k", "name": "get_weather",
                "arguments": "{\\"city\\":\\"Paris\\"}"}],
             "parallel_tool_calls": true, "previous_response_id": null, "reasoning": {"effort": null, "summary": null}, "store": false,
             "temperature": 0.5, "text": {"format": {"type": "text"}}, "tool_choice": "auto", "tools": [], "top_p": 1, "truncation": "disabled",
             "user": null,
             "usage": {"input_tokens": 1117, "input_tokens_details": {"cached_tokens": 1024, "cache_write_tokens": 0},
               "output_tokens": 46, "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 1163}}
            """)
        #expect(response == expected)
    }

    @Test func aTruncatedAnswerIsIncomplete() {
        let completion = json(
            #"{"id": "c", "model": "m", "choices": [{"index": 0, "finish_reason": "length", "message": {"role": "assistant", "content": "Once upon"}}]}"#
        )
        let response = ResponsesTranslation.response(completion, request: [:], id: "resp_1", createdAt: 0)
        #expect(response["status"] == "incomplete")
        #expect(response["incomplete_details"] == json(#"{"reason": "max_output_tokens"}"#))
        #expect(response["output"]?.arrayValue?.first?["status"] == "incomplete")
        #expect(response["usage"] == .null)
    }

    @Test func responseIDsLookLikeOpenAIs() {
        var generator = SplitMix64(seed: 7)
        let id = ResponsesTranslation.makeResponseID(using: &generator)
        #expect(id.hasPrefix("resp_") && id.count == 53)
        #expect(id.dropFirst(5).allSatisfy { $0.isHexDigit })
    }
}
