import Testing

@testable import SwitchyardCore

/// Chunks as OpenAI's chat completions stream them (role chunk, content, a tool call split over
/// chunks, the finish chunk, the usage chunk of `stream_options.include_usage`); events as the
/// Responses API's "Streaming events" reference and the `openai` SDK's event types define them.
@Suite struct ResponsesStreamTranslatorTests {
    private func json(_ text: String) -> JSONValue {
        try! JSONValue.parse(Array(text.utf8))
    }

    private func chunk(_ choices: String, usage: String = "null") -> JSONValue {
        json(
            #"{"id":"chatcmpl-AbC","object":"chat.completion.chunk","created":1741570283,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_06737a9306","choices":\#(choices),"usage":\#(usage)}"#
        )
    }

    private var toolCallStream: [JSONValue] {
        [
            chunk(#"[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}]"#),
            chunk(#"[{"index":0,"delta":{"content":"Let me"},"logprobs":null,"finish_reason":null}]"#),
            chunk(#"[{"index":0,"delta":{"content":" check."},"logprobs":null,"finish_reason":null}]"#),
            chunk(
                #"[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_DdmO9pD3xa9XTPNJ32zg2hcA","type":"function","function":{"name":"get_weather","arguments":""}}]},"logprobs":null,"finish_reason":null}]"#
            ),
            chunk(#"[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":"}}]},"logprobs":null,"finish_reason":null}]"#),
            chunk(#"[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"Paris\"}"}}]},"logprobs":null,"finish_reason":null}]"#),
            chunk(#"[{"index":0,"delta":{},"logprobs":null,"finish_reason":"tool_calls"}]"#),
            chunk("[]", usage: #"{"prompt_tokens":80,"completion_tokens":20,"total_tokens":100,"prompt_tokens_details":{"cached_tokens":64}}"#),
        ]
    }

    @Test func aToolCallingStreamBecomesTypedEvents() throws {
        let request = json(#"{"model": "chat", "input": "Weather in Paris?", "stream": true}"#).objectValue!
        var translator = ResponsesStreamTranslator(responseID: "resp_7f", createdAt: 1_741_570_283, request: request)
        var output: [[ServerSentEvent]] = toolCallStream.map { translator.translate($0) }
        #expect(!translator.finished, "nothing waits for the end, and nothing ends before [DONE]")
        output.append(translator.finish())
        #expect(translator.finished)
        #expect(
            output.map { $0.map(\.name) } == [
                ["response.created", "response.in_progress"],
                ["response.output_item.added", "response.content_part.added", "response.output_text.delta"],
                ["response.output_text.delta"],
                ["response.output_text.done", "response.content_part.done", "response.output_item.done", "response.output_item.added"],
                ["response.function_call_arguments.delta"],
                ["response.function_call_arguments.delta"],
                [], [],
                ["response.function_call_arguments.done", "response.output_item.done", "response.completed"],
            ])
        let events = output.flatMap { $0 }
        #expect(events.map { $0.data["sequence_number"] } == events.indices.map { .number(Double($0)) })
        #expect(events.allSatisfy { $0.data["type"] == .string($0.name) })

        let created = events[0].data["response"]
        #expect(created?["id"] == "resp_7f" && created?["status"] == "in_progress" && created?["output"] == .array([]))
        #expect(created?["model"] == "gpt-4o-mini-2024-07-18")
        #expect(
            events[2].data
                == json(
                    #"{"type":"response.output_item.added","sequence_number":2,"output_index":0,"item":{"id":"msg_7f_0","type":"message","status":"in_progress","role":"assistant","content":[]}}"#
                ))
        #expect(
            events[4].data
                == json(
                    #"{"type":"response.output_text.delta","sequence_number":4,"item_id":"msg_7f_0","output_index":0,"content_index":0,"delta":"Let me","logprobs":[]}"#
                ))
        #expect(events[6].data["text"] == "Let me check.")
        #expect(events[8].data["item"]?["status"] == "completed")
        #expect(
            events[9].data["item"]
                == json(
                    #"{"id":"fc_7f_1","type":"function_call","status":"in_progress","call_id":"call_DdmO9pD3xa9XTPNJ32zg2hcA","name":"get_weather","arguments":""}"#
                ))
        #expect(events[10].data["delta"] == #"{"city":"#)
        #expect(
            events[12].data
                == json(
                    #"{"type":"response.function_call_arguments.done","sequence_number":12,"item_id":"fc_7f_1","output_index":1,"arguments":"{\"city\":\"Paris\"}"}"#
                ))

        let completed = try #require(events.last?.data["response"])
        #expect(completed["status"] == "completed")
        #expect(completed["output"]?.arrayValue?.map { $0["id"] } == ["msg_7f_0", "fc_7f_1"])
        #expect(completed["output"]?.arrayValue?.last?["arguments"] == #"{"city":"Paris"}"#)
        #expect(
            completed["usage"]
                == json(
                    #"{"input_tokens":80,"input_tokens_details":{"cached_tokens":64,"cache_write_tokens":0},"output_tokens":20,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":100}"#
                ))
        #expect(translator.usage == TokenUsage(input: 80, output: 20, cachedInput: 64))
        #expect(translator.finish().isEmpty && translator.translate(toolCallStream[1]).isEmpty)
    }

    @Test func eventsGoOutWithTheirNameAndOneDataLine() {
        let event = ServerSentEvent(name: "response.output_text.delta", data: json(#"{"delta":"a\nb"}"#))
        #expect(String(decoding: event.bytes, as: UTF8.self) == "event: response.output_text.delta\ndata: {\"delta\":\"a\\nb\"}\n\n")
    }

    @Test func aLengthStopEndsIncomplete() {
        var translator = ResponsesStreamTranslator(responseID: "resp_1", createdAt: 0, request: [:])
        _ = translator.translate(chunk(#"[{"index":0,"delta":{"content":"Once upon"},"finish_reason":null}]"#))
        _ = translator.translate(chunk(#"[{"index":0,"delta":{},"finish_reason":"length"}]"#))
        let closing = translator.finish()
        #expect(
            closing.map(\.name) == ["response.output_text.done", "response.content_part.done", "response.output_item.done", "response.incomplete"])
        #expect(closing[2].data["item"]?["status"] == "incomplete")
        #expect(closing[3].data["response"]?["incomplete_details"] == json(#"{"reason":"max_output_tokens"}"#))
    }

    @Test func aBrokenStreamFailsWithAnErrorAndAFailedResponse() {
        var translator = ResponsesStreamTranslator(responseID: "resp_1", createdAt: 0, request: [:])
        _ = translator.translate(chunk(#"[{"index":0,"delta":{"content":"Hel"},"finish_reason":null}]"#))
        let failed = translator.translate(json(#"{"error":{"message":"upstream overloaded","type":"server_error","param":null,"code":null}}"#))
        #expect(failed.map(\.name) == ["error", "response.failed"])
        #expect(failed[0].data["message"] == "upstream overloaded")
        #expect(failed[1].data["response"]?["status"] == "failed")
        #expect(failed[1].data["response"]?["error"] == json(#"{"code":"server_error","message":"upstream overloaded"}"#))
        #expect(failed[1].data["response"]?["output"]?.arrayValue?.first?["status"] == "in_progress")
        #expect(translator.finished && translator.finish().isEmpty)
    }

    @Test func anEmptyStreamStillCompletes() {
        var translator = ResponsesStreamTranslator(responseID: "resp_1", createdAt: 0, request: [:])
        #expect(translator.finish().map(\.name) == ["response.created", "response.in_progress", "response.completed"])
    }
}
