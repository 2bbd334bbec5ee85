# Over 400 lines: every format's plain, streamed, tool and error paths share this module's vendor upstreams and gateway.
"""End-to-end tests of the vendor provider formats: Anthropic, Azure OpenAI, Ollama
and the mock speaking Anthropic, driven through the gateway with the `openai` SDK.

This module runs its own fake vendor upstreams (vendor_upstreams.py) and its own
gateway on the seed below; it shares nothing with the other modules.

Providers (all on 127.0.0.1):
    claude -> AnthropicUpstream   (format "anthropic", base .../v1)
    azure  -> AzureUpstream       (format "azure", the resource endpoint)
    local  -> OllamaUpstream      (format "ollama", the gateway calls {base}/v1/...)
    sim    -> the built-in mock, answering in Anthropic's format

The Anthropic fake answers by upstream model: claude-text says "Hello from
Claude: <last user text>", claude-tool calls the first tool, claude-text-tool
says a sentence and then calls it twice, claude-error-mid breaks off its
stream with an `error` event, claude-cut-mid just stops sending,
claude-overloaded answers 529 and claude-bad 400. It rejects (400) whatever the real Messages API would reject, so
a request that translates badly fails loudly.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

import httpx
import openai
import pytest

from conftest import MAX_SSE_EVENTS, GatewaySeed, error_of, gateway_binary, sse_data
from fake_upstream import RecordedRequest
from vendor_upstreams import (
    ANTHROPIC_BAD_MESSAGE,
    ANTHROPIC_ERROR_MID_TEXT,
    ANTHROPIC_KEY,
    ANTHROPIC_MODELS,
    ANTHROPIC_PREAMBLE,
    ANTHROPIC_SECOND_TOOL_INPUT,
    ANTHROPIC_TEXT_PREFIX,
    ANTHROPIC_TOOL_INPUT,
    ANTHROPIC_TOOL_RESULT_PREFIX,
    ANTHROPIC_VERSION,
    AZURE_KEY,
    AnthropicUpstream,
    AzureUpstream,
    OllamaUpstream,
    anthropic_block_texts,
    anthropic_system_text,
    query_of,
    route_of,
)

ADMIN_TOKEN = "e2e-admin-provider-formats"
USER_TOKEN = "sk-pf-user"
AZURE_API_VERSION = "2024-10-21"
DEFAULT_MAX_TOKENS = 4096
COST_INPUT_PER_MTOK = 3
COST_OUTPUT_PER_MTOK = 15

POLL_SECONDS = 10
CANARY_REQUESTS = 40

BACKEND_HEADER = "x-switchyard-backend"
VERSION_HEADER = "x-switchyard-version"

# A 1x1 transparent PNG.
PNG_BASE64 = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)

WEATHER_PARAMETERS = {
    "type": "object",
    "properties": {"location": {"type": "string", "description": "A city name"}},
    "required": ["location"],
}
WEATHER_TOOLS = [{
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The current weather in a city",
        "parameters": WEATHER_PARAMETERS,
    },
}]

SEED_TEMPLATE = """\
[server]
admin_token = "{admin_token}"

[settings]
max_retries = 0
request_timeout_seconds = 30

[providers.claude]
format = "anthropic"
base_url = "{claude_url}"
api_key = "{claude_key}"
cost_input_per_mtok = {cost_in}
cost_output_per_mtok = {cost_out}

[providers.azure]
format = "azure"
base_url = "{azure_url}"
api_key = "{azure_key}"
api_version = "{azure_api_version}"

[providers.local]
format = "ollama"
base_url = "{ollama_url}"

[providers.sim]
format = "mock"
speaks = "anthropic"

[models.claude]
backends = [ {{ provider = "claude", model = "claude-text" }} ]

[models.claude-tool]
backends = [ {{ provider = "claude", model = "claude-tool" }} ]

[models.claude-error-mid]
backends = [ {{ provider = "claude", model = "claude-error-mid" }} ]

[models.claude-text-tool]
backends = [ {{ provider = "claude", model = "claude-text-tool" }} ]

[models.claude-cut-mid]
backends = [ {{ provider = "claude", model = "claude-cut-mid" }} ]

[models.claude-overloaded]
backends = [ {{ provider = "claude", model = "claude-overloaded" }} ]

[models.claude-bad]
backends = [ {{ provider = "claude", model = "claude-bad" }} ]

[models.gpt-azure]
backends = [ {{ provider = "azure", model = "gpt-4o", deployment = "my-gpt" }} ]

[models.azure-embed]
backends = [ {{ provider = "azure", model = "text-embedding-3-small", deployment = "my-embed" }} ]

[models.llama]
backends = [ {{ provider = "local", model = "llama3.2" }} ]

[models.mixed]
[models.mixed.versions.v1]
weight = 50
default = true
backends = [ {{ provider = "azure", model = "gpt-4o", deployment = "my-gpt" }} ]
[models.mixed.versions.v2]
weight = 50
backends = [ {{ provider = "claude", model = "claude-text" }} ]

[models.sim-claude]
backends = [ {{ provider = "sim", model = "claude-mock" }} ]

[users.tester]
token = "{user_token}"
"""

VALIDATE_SEED_TEMPLATE = """\
[server]
admin_token = "{admin_token}"

[providers.claude]
format = "anthropic"
base_url = "{claude_url}"
api_key = "{claude_key}"

[models.present]
backends = [ {{ provider = "claude", model = "claude-text" }} ]

[models.absent]
backends = [ {{ provider = "claude", model = "claude-missing" }} ]
"""


def render_seed(claude_url: str, azure_url: str, ollama_url: str) -> str:
    return SEED_TEMPLATE.format(
        admin_token=ADMIN_TOKEN, user_token=USER_TOKEN,
        claude_url=claude_url, claude_key=ANTHROPIC_KEY,
        cost_in=COST_INPUT_PER_MTOK, cost_out=COST_OUTPUT_PER_MTOK,
        azure_url=azure_url, azure_key=AZURE_KEY, azure_api_version=AZURE_API_VERSION,
        ollama_url=ollama_url,
    )


# ---------------------------------------------------------------------------
# Fixtures: the vendor upstreams and the seed on them
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def claude() -> Iterator[AnthropicUpstream]:
    with AnthropicUpstream() as server:
        yield server


@pytest.fixture(scope="module")
def azure() -> Iterator[AzureUpstream]:
    with AzureUpstream() as server:
        yield server


@pytest.fixture(scope="module")
def ollama() -> Iterator[OllamaUpstream]:
    with OllamaUpstream() as server:
        yield server


@pytest.fixture(scope="module")
def gateway_seed(claude: AnthropicUpstream, azure: AzureUpstream, ollama: OllamaUpstream) -> GatewaySeed:
    return GatewaySeed(render_seed(claude.base_url, azure.base_url, ollama.base_url), ADMIN_TOKEN, USER_TOKEN)


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------

T = TypeVar("T")


def unique(label: str) -> str:
    return f"{label} {uuid.uuid4().hex[:10]}"


def user_says(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


def only(items: list[T], what: str) -> T:
    assert len(items) == 1, f"expected exactly one {what}, got {len(items)}: {items}"
    return items[0]


def poll(probe: Callable[[], T | None], what: str, seconds: float = POLL_SECONDS) -> T:
    """Call `probe` until it returns something truthy; fail after `seconds`."""
    deadline = time.monotonic() + seconds
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.2)
    pytest.fail(f"timed out after {seconds}s waiting for {what} (last: {last!r})", pytrace=False)


def upstream_request(claude: AnthropicUpstream, marker: str) -> RecordedRequest:
    """The one POST /v1/messages the gateway sent for the prompt containing `marker`."""
    return only(claude.messages_requests(marker), f"Anthropic request mentioning {marker!r}")


def served_usage(claude: AnthropicUpstream, marker: str) -> tuple[int, int]:
    """(input_tokens, output_tokens) the Anthropic fake reported for that prompt."""
    matches = [(i, o) for body, i, o in claude.served if marker in json.dumps(body)]
    return only(matches, f"Anthropic answer for {marker!r}")


def assert_no_user_token_upstream(request: RecordedRequest) -> None:
    leaked = {name: value for name, value in request.headers.items() if USER_TOKEN in value}
    assert not leaked, f"the client's gateway token reached the upstream in {leaked}"


def texts_of(message: dict[str, Any]) -> list[str]:
    return anthropic_block_texts(message.get("content"))


def blocks_of(message: dict[str, Any]) -> list[dict[str, Any]]:
    """A message's content as a list of blocks (a string is one text block)."""
    content = message.get("content")
    return [{"type": "text", "text": content}] if isinstance(content, str) else list(content or [])


def collect_stream(stream: Any) -> tuple[list[Any], str, list[float]]:
    """All chunks, the concatenated content and the arrival time of each content chunk."""
    chunks: list[Any] = []
    text = ""
    arrivals: list[float] = []
    for chunk in stream:
        chunks.append(chunk)
        assert len(chunks) <= MAX_SSE_EVENTS, "runaway stream"
        for choice in chunk.choices or []:
            if choice.delta and choice.delta.content:
                text += choice.delta.content
                arrivals.append(time.monotonic())
    return chunks, text, arrivals


def finish_reasons(chunks: list[Any]) -> list[str]:
    return [c.finish_reason for chunk in chunks for c in chunk.choices or [] if c.finish_reason]


def assert_openai_error(response: httpx.Response) -> dict[str, Any]:
    """error_of, and the error names its type whatever vendor failed."""
    error = error_of(response)
    assert isinstance(error.get("type"), str) and error["type"], f"error without a type: {response.text}"
    return error


def assert_completion_shape(completion: Any, what: str) -> None:
    """The fields every OpenAI chat.completion has, whatever vendor answered."""
    assert completion.object == "chat.completion", f"{what}: object {completion.object!r}"
    assert isinstance(completion.id, str) and completion.id, f"{what}: no id"
    assert isinstance(completion.created, int), f"{what}: created {completion.created!r}"
    assert isinstance(completion.model, str) and completion.model, f"{what}: model {completion.model!r}"
    assert len(completion.choices) == 1, f"{what}: {len(completion.choices)} choices"
    choice = completion.choices[0]
    assert choice.index == 0
    assert choice.message.role == "assistant", f"{what}: role {choice.message.role!r}"
    assert isinstance(choice.message.content, str) and choice.message.content, f"{what}: no content"
    assert choice.finish_reason == "stop", f"{what}: finish_reason {choice.finish_reason!r}"
    usage = completion.usage
    assert usage is not None, f"{what}: no usage"
    assert usage.prompt_tokens > 0 and usage.completion_tokens > 0, f"{what}: usage {usage}"
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens, f"{what}: usage {usage}"


def tool_calls_from_chunks(chunks: list[Any]) -> dict[int, dict[str, str]]:
    """Streamed tool calls assembled by index: {index: {"id", "name", "arguments"}}."""
    calls: dict[int, dict[str, str]] = {}
    for chunk in chunks:
        for choice in chunk.choices or []:
            for delta in (choice.delta.tool_calls or []) if choice.delta else []:
                call = calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
                if delta.id:
                    call["id"] = delta.id
                if delta.function is not None:
                    call["name"] += delta.function.name or ""
                    call["arguments"] += delta.function.arguments or ""
    return calls


# ---------------------------------------------------------------------------
# 1. Anthropic, non-streamed: the request and the answer translated
# ---------------------------------------------------------------------------


def test_anthropic_chat_translates_request_and_response(sdk: openai.OpenAI, claude: AnthropicUpstream) -> None:
    prompt = unique("hello claude")
    raw = sdk.chat.completions.with_raw_response.create(
        model="claude",
        messages=[{"role": "system", "content": "You are terse."}, {"role": "user", "content": prompt}],
        stop=["END"], temperature=0.5, user="user-42",
    )
    completion = raw.parse()

    assert raw.headers.get(BACKEND_HEADER) == "claude/claude-text", raw.headers.get(BACKEND_HEADER)
    assert completion.object == "chat.completion"
    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].message.content == ANTHROPIC_TEXT_PREFIX + prompt
    assert not completion.choices[0].message.tool_calls
    assert completion.choices[0].finish_reason == "stop"
    input_tokens, output_tokens = served_usage(claude, prompt)
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (input_tokens, output_tokens), \
        f"usage {completion.usage} should be the upstream's input/output tokens {input_tokens}/{output_tokens}"
    assert completion.usage.total_tokens == input_tokens + output_tokens

    sent = upstream_request(claude, prompt)
    body = sent.body
    assert body["model"] == "claude-text"
    assert anthropic_system_text(body.get("system")) == "You are terse.", f"system: {body.get('system')!r}"
    assert body["max_tokens"] == DEFAULT_MAX_TOKENS, f"max_tokens defaults to {DEFAULT_MAX_TOKENS}: {body}"
    assert body.get("stop_sequences") == ["END"], body
    assert body.get("temperature") == 0.5, body
    assert body.get("metadata") == {"user_id": "user-42"}, body
    assert body.get("stream") in (None, False), body
    assert [m["role"] for m in body["messages"]] == ["user"], body["messages"]
    assert texts_of(body["messages"][0]) == [prompt], body["messages"]
    assert sent.header("x-api-key") == ANTHROPIC_KEY
    assert sent.header("anthropic-version") == ANTHROPIC_VERSION
    assert_no_user_token_upstream(sent)


@pytest.mark.parametrize("field, value", [("max_tokens", 123), ("max_completion_tokens", 77)])
def test_anthropic_max_tokens_from_client(sdk: openai.OpenAI, claude: AnthropicUpstream,
                                          field: str, value: int) -> None:
    prompt = unique(f"limit {field}")
    completion = sdk.chat.completions.create(model="claude", messages=user_says(prompt), **{field: value})

    assert completion.choices[0].message.content == ANTHROPIC_TEXT_PREFIX + prompt
    assert upstream_request(claude, prompt).body["max_tokens"] == value


def test_anthropic_turns_alternate(sdk: openai.OpenAI, claude: AnthropicUpstream) -> None:
    marker = unique("turns")
    completion = sdk.chat.completions.create(
        model="claude",
        messages=[
            {"role": "system", "content": "rule one"},
            {"role": "user", "content": f"first {marker}"},
            {"role": "assistant", "content": "an answer"},
            {"role": "user", "content": "second"},
            {"role": "user", "content": [{"type": "text", "text": "third"}]},
        ],
    )

    assert completion.choices[0].message.content.startswith(ANTHROPIC_TEXT_PREFIX)
    messages = upstream_request(claude, marker).body["messages"]
    roles = [m["role"] for m in messages]
    assert roles[0] == "user" and roles[-1] == "user", roles
    assert all(a != b for a, b in zip(roles, roles[1:])), f"user and assistant turns must alternate: {roles}"
    assert [t for m in messages for t in texts_of(m)] == [f"first {marker}", "an answer", "second", "third"], \
        messages


def test_anthropic_rejects_what_it_cannot_express(user_http: httpx.Client, claude: AnthropicUpstream) -> None:
    prompt = unique("two choices")
    response = user_http.post("/v1/chat/completions",
                         json={"model": "claude", "messages": user_says(prompt), "n": 2})

    assert response.status_code == 400, f"{response.status_code} {response.text[:300]}"
    assert_openai_error(response)
    assert not claude.messages_requests(prompt), "a request Anthropic cannot serve must not be sent upstream"


# ---------------------------------------------------------------------------
# 2. Anthropic, streamed
# ---------------------------------------------------------------------------


def test_anthropic_stream(sdk: openai.OpenAI, claude: AnthropicUpstream) -> None:
    prompt = unique("stream from claude in pieces")
    stream = sdk.chat.completions.create(
        model="claude", messages=user_says(prompt), stream=True, stream_options={"include_usage": True},
    )
    chunks, text, arrivals = collect_stream(stream)  # an exception here fails the test

    assert text == ANTHROPIC_TEXT_PREFIX + prompt
    assert len(arrivals) > 1, "the answer should arrive in several content chunks"
    # The fake sleeps between its deltas: a gateway that buffered the answer
    # would deliver every piece at once.
    assert arrivals[-1] - arrivals[0] >= 0.1, \
        f"content chunks arrived within {arrivals[-1] - arrivals[0]:.3f}s: the stream was buffered"
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert finish_reasons(chunks) == ["stop"], finish_reasons(chunks)
    *body, last = chunks
    assert last.choices == [] and last.usage is not None, f"the last chunk should carry usage only: {last}"
    input_tokens, output_tokens = served_usage(claude, prompt)
    assert (last.usage.prompt_tokens, last.usage.completion_tokens) == (input_tokens, output_tokens), last.usage
    assert last.usage.total_tokens == input_tokens + output_tokens
    assert all(c.usage is None for c in body), "only the final chunk carries usage"

    sent = upstream_request(claude, prompt)
    assert sent.body.get("stream") is True, sent.body
    assert sent.header("anthropic-version") == ANTHROPIC_VERSION


def test_anthropic_stream_wire_format(user_http: httpx.Client, claude: AnthropicUpstream) -> None:
    prompt = unique("raw stream")
    with user_http.stream("POST", "/v1/chat/completions",
                     json={"model": "claude", "messages": user_says(prompt), "stream": True}) as response:
        assert response.status_code == 200, response.read()[:300]
        assert response.headers.get("content-type", "").startswith("text/event-stream")
        payloads = sse_data(response)

    assert payloads and payloads[-1] == "[DONE]", f"a complete stream ends with [DONE]: {payloads[-3:]}"
    chunks = [json.loads(p) for p in payloads[:-1]]
    assert all(c.get("object") == "chat.completion.chunk" for c in chunks), chunks
    assert len({c.get("id") for c in chunks}) == 1, "all chunks of one completion share an id"
    assert all("usage" not in c or c["usage"] is None for c in chunks), "usage was not requested"
    text = "".join((ch.get("delta") or {}).get("content") or "" for c in chunks for ch in c["choices"])
    assert text == ANTHROPIC_TEXT_PREFIX + prompt


# ---------------------------------------------------------------------------
# 3. Tool calls
# ---------------------------------------------------------------------------


def assert_tools_translated(sent: RecordedRequest) -> None:
    body = sent.body
    tools = body.get("tools")
    assert isinstance(tools, list) and len(tools) == 1, f"tools: {tools}"
    assert tools[0].get("name") == "get_weather", tools[0]
    assert tools[0].get("input_schema") == WEATHER_PARAMETERS, tools[0]
    assert tools[0].get("description") == "The current weather in a city", tools[0]
    assert body.get("tool_choice") == {"type": "any"}, f"tool_choice 'required' is Anthropic's any: {body}"


def test_tool_call(sdk: openai.OpenAI, claude: AnthropicUpstream) -> None:
    question = unique("What is the weather in Paris?")
    completion = sdk.chat.completions.create(
        model="claude-tool", messages=user_says(question), tools=WEATHER_TOOLS, tool_choice="required",
    )

    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls", choice
    calls = choice.message.tool_calls
    assert calls and len(calls) == 1, choice.message
    assert calls[0].type == "function"
    assert isinstance(calls[0].id, str) and calls[0].id, calls[0]
    assert calls[0].function.name == "get_weather"
    assert json.loads(calls[0].function.arguments) == ANTHROPIC_TOOL_INPUT, calls[0].function.arguments
    assert not choice.message.content, f"a tool-only answer has no text: {choice.message.content!r}"
    assert_tools_translated(upstream_request(claude, question))

    # The follow-up: the assistant's tool call and the tool's answer go back.
    followup = [
        {"role": "user", "content": question},
        {"role": "assistant", "content": None, "tool_calls": [{
            "id": calls[0].id, "type": "function",
            "function": {"name": calls[0].function.name, "arguments": calls[0].function.arguments},
        }]},
        {"role": "tool", "tool_call_id": calls[0].id, "content": "18°C and sunny"},
    ]
    answer = sdk.chat.completions.create(model="claude-tool", messages=followup, tools=WEATHER_TOOLS)

    assert answer.choices[0].finish_reason == "stop"
    assert answer.choices[0].message.content == ANTHROPIC_TOOL_RESULT_PREFIX + "18°C and sunny"
    sent = [r for r in claude.messages_requests(question) if len(r.body["messages"]) == 3]
    messages = only(sent, "follow-up request").body["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user"], messages
    tool_use = only([b for b in blocks_of(messages[1]) if b.get("type") == "tool_use"], "tool_use block")
    assert tool_use.get("id") == calls[0].id and tool_use.get("name") == "get_weather", tool_use
    assert tool_use.get("input") == ANTHROPIC_TOOL_INPUT, tool_use
    result = only([b for b in blocks_of(messages[2]) if b.get("type") == "tool_result"], "tool_result block")
    assert result.get("tool_use_id") == calls[0].id, result
    content = result.get("content")
    result_text = content if isinstance(content, str) else "".join(anthropic_block_texts(content))
    assert result_text == "18°C and sunny", result


def test_tool_call_stream(sdk: openai.OpenAI, claude: AnthropicUpstream) -> None:
    question = unique("Stream the weather in Paris")
    stream = sdk.chat.completions.create(
        model="claude-tool", messages=user_says(question), tools=WEATHER_TOOLS, tool_choice="required",
        stream=True,
    )
    chunks, text, _ = collect_stream(stream)

    calls = tool_calls_from_chunks(chunks)
    assert list(calls) == [0], f"one tool call at index 0: {calls}"
    call = calls[0]
    assert call["id"], f"the tool call's id should arrive with its first delta: {call}"
    assert call["name"] == "get_weather", call
    assert json.loads(call["arguments"]) == ANTHROPIC_TOOL_INPUT, \
        f"arguments assembled from the deltas: {call['arguments']!r}"
    assert finish_reasons(chunks) == ["tool_calls"], finish_reasons(chunks)
    assert text == "", f"no text in a tool-only answer: {text!r}"
    sent = upstream_request(claude, question)
    assert sent.body.get("stream") is True
    assert_tools_translated(sent)


def test_text_then_two_tool_calls(sdk: openai.OpenAI) -> None:
    completion = sdk.chat.completions.create(
        model="claude-text-tool", messages=user_says(unique("Weather in Paris and London?")), tools=WEATHER_TOOLS,
    )

    message = completion.choices[0].message
    assert completion.choices[0].finish_reason == "tool_calls"
    assert message.content == ANTHROPIC_PREAMBLE, f"the text block before the tool calls: {message.content!r}"
    calls = message.tool_calls or []
    assert [c.function.name for c in calls] == ["get_weather", "get_weather"], calls
    assert [json.loads(c.function.arguments) for c in calls] == [ANTHROPIC_TOOL_INPUT, ANTHROPIC_SECOND_TOOL_INPUT]
    assert len({c.id for c in calls}) == 2, f"each call has its own id: {calls}"


def test_text_then_two_tool_calls_stream(sdk: openai.OpenAI) -> None:
    stream = sdk.chat.completions.create(
        model="claude-text-tool", messages=user_says(unique("Stream Paris and London")), tools=WEATHER_TOOLS,
        stream=True,
    )
    chunks, text, _ = collect_stream(stream)

    assert text == ANTHROPIC_PREAMBLE
    calls = tool_calls_from_chunks(chunks)
    # Anthropic numbers content blocks (text 0, tools 1 and 2); OpenAI numbers tool calls from 0.
    assert sorted(calls) == [0, 1], f"tool call indexes: {calls}"
    assert [calls[i]["name"] for i in (0, 1)] == ["get_weather", "get_weather"], calls
    assert [json.loads(calls[i]["arguments"]) for i in (0, 1)] == [ANTHROPIC_TOOL_INPUT, ANTHROPIC_SECOND_TOOL_INPUT], \
        calls
    assert calls[0]["id"] and calls[1]["id"] and calls[0]["id"] != calls[1]["id"], calls
    assert finish_reasons(chunks) == ["tool_calls"], finish_reasons(chunks)


# ---------------------------------------------------------------------------
# 4. Errors: in the stream, before it, and from the upstream's status
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["claude-error-mid", "claude-cut-mid"])
def test_broken_stream_raises_in_sdk(sdk: openai.OpenAI, model: str) -> None:
    received: list[str] = []
    with pytest.raises(openai.APIError) as caught:
        stream = sdk.chat.completions.create(model=model, messages=user_says("break"), stream=True)
        for chunk in stream:
            for choice in chunk.choices or []:
                if choice.delta and choice.delta.content:
                    received.append(choice.delta.content)

    error = caught.value
    assert not isinstance(error, openai.APIStatusError), \
        f"the stream had started, so it fails in-stream, not with HTTP {getattr(error, 'status_code', '?')}"
    assert not isinstance(error, openai.APIConnectionError), \
        f"the gateway should send an error event, not break the connection ({type(error).__name__}: {error})"
    assert "".join(received) == ANTHROPIC_ERROR_MID_TEXT, f"chunks before the error: {received}"
    if model == "claude-error-mid":
        assert "overloaded" in str(error.message).lower(), f"the upstream's error should show: {error.message!r}"


@pytest.mark.parametrize("model", ["claude-error-mid", "claude-cut-mid"])
def test_broken_stream_wire_format(user_http: httpx.Client, model: str) -> None:
    with user_http.stream("POST", "/v1/chat/completions",
                     json={"model": model, "messages": user_says("break"), "stream": True}) as response:
        assert response.status_code == 200, f"the stream had started: {response.status_code}"
        payloads = sse_data(response)

    assert "[DONE]" not in payloads, f"a failed stream must not end with [DONE]: {payloads}"
    last = json.loads(payloads[-1])
    assert isinstance(last, dict) and isinstance(last.get("error"), dict), \
        f"the last event should be {{'error': {{...}}}}, got {payloads[-1]}"
    assert last["error"].get("message"), last


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_overloaded_is_503(sdk: openai.OpenAI, stream: bool) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        result = sdk.chat.completions.create(model="claude-overloaded", messages=user_says("busy?"), stream=stream)
        if stream:
            for _ in result:
                pass
    assert caught.value.status_code == 503, f"Anthropic's 529 is 503 for OpenAI clients: {caught.value}"


def test_overloaded_error_body(user_http: httpx.Client) -> None:
    response = user_http.post("/v1/chat/completions", json={"model": "claude-overloaded", "messages": user_says("busy?")})
    assert response.status_code == 503, f"{response.status_code} {response.text[:300]}"
    assert_openai_error(response)


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_bad_request_is_400_with_message(sdk: openai.OpenAI, stream: bool) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        result = sdk.chat.completions.create(model="claude-bad", messages=user_says("bad"), stream=stream)
        if stream:
            for _ in result:
                pass
    assert caught.value.status_code == 400
    assert ANTHROPIC_BAD_MESSAGE in caught.value.message, caught.value.message


def test_bad_request_error_body(user_http: httpx.Client) -> None:
    response = user_http.post("/v1/chat/completions", json={"model": "claude-bad", "messages": user_says("bad")})
    assert response.status_code == 400, f"{response.status_code} {response.text[:300]}"
    error = assert_openai_error(response)
    assert ANTHROPIC_BAD_MESSAGE in error["message"], error
    assert error["type"] == "invalid_request_error", error


# ---------------------------------------------------------------------------
# 5. Images
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("url, source", [
    (f"data:image/png;base64,{PNG_BASE64}", {"type": "base64", "media_type": "image/png", "data": PNG_BASE64}),
    ("https://example.com/cat.png", {"type": "url", "url": "https://example.com/cat.png"}),
], ids=["data-url", "https-url"])
def test_image_part_becomes_image_block(sdk: openai.OpenAI, claude: AnthropicUpstream,
                                        url: str, source: dict[str, str]) -> None:
    prompt = unique("What is in this picture?")
    completion = sdk.chat.completions.create(model="claude", messages=[{
        "role": "user",
        "content": [{"type": "text", "text": prompt}, {"type": "image_url", "image_url": {"url": url}}],
    }])

    assert completion.choices[0].message.content == ANTHROPIC_TEXT_PREFIX + prompt
    message = only(upstream_request(claude, prompt).body["messages"], "upstream message")
    images = [b for b in blocks_of(message) if b.get("type") == "image"]
    assert only(images, "image block").get("source") == source, message
    assert texts_of(message) == [prompt], message


# ---------------------------------------------------------------------------
# 6. Azure OpenAI
# ---------------------------------------------------------------------------


def assert_azure_request(request: RecordedRequest, deployment: str, operation: str) -> None:
    assert route_of(request) == f"/openai/deployments/{deployment}/{operation}", request.path
    assert query_of(request).get("api-version") == [AZURE_API_VERSION], request.path
    assert request.header("api-key") == AZURE_KEY, request.headers
    assert request.header("authorization") is None, \
        f"Azure takes the key in api-key; no Authorization header: {request.header('authorization')!r}"
    assert_no_user_token_upstream(request)


def test_azure_chat(sdk: openai.OpenAI, azure: AzureUpstream) -> None:
    prompt = unique("hello azure")
    raw = sdk.chat.completions.with_raw_response.create(model="gpt-azure", messages=user_says(prompt))
    completion = raw.parse()

    assert raw.headers.get(BACKEND_HEADER) == "azure/gpt-4o", raw.headers.get(BACKEND_HEADER)
    assert completion.choices[0].message.content == f"azure deployment my-gpt: {prompt}"
    assert_completion_shape(completion, "azure")
    assert_azure_request(only(azure.chat_requests(prompt), "Azure chat request"), "my-gpt", "chat/completions")


def test_azure_chat_stream(sdk: openai.OpenAI, azure: AzureUpstream) -> None:
    prompt = unique("stream from azure")
    stream = sdk.chat.completions.create(
        model="gpt-azure", messages=user_says(prompt), stream=True, stream_options={"include_usage": True},
    )
    chunks, text, arrivals = collect_stream(stream)

    assert text == f"azure deployment my-gpt: {prompt}"
    assert len(arrivals) > 1
    assert finish_reasons(chunks) == ["stop"]
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0, chunks[-1]
    sent = only(azure.chat_requests(prompt), "Azure chat request")
    assert_azure_request(sent, "my-gpt", "chat/completions")
    assert sent.body.get("stream") is True


def test_azure_embeddings(sdk: openai.OpenAI, azure: AzureUpstream) -> None:
    marker = unique("embed on azure")
    result = sdk.embeddings.create(model="azure-embed", input=[marker, "second"])

    assert [item.index for item in result.data] == [0, 1]
    assert all(len(item.embedding) == 8 for item in result.data)
    assert_azure_request(only(azure.embedding_requests(marker), "Azure embeddings request"),
                         "my-embed", "embeddings")


# ---------------------------------------------------------------------------
# 7. Ollama
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_ollama_chat(sdk: openai.OpenAI, ollama: OllamaUpstream, stream: bool) -> None:
    prompt = unique("hello llama")
    if stream:
        _, text, _ = collect_stream(sdk.chat.completions.create(model="llama", messages=user_says(prompt), stream=True))
    else:
        completion = sdk.chat.completions.create(model="llama", messages=user_says(prompt))
        assert_completion_shape(completion, "ollama")
        text = completion.choices[0].message.content

    assert text == f"ollama llama3.2: {prompt}"
    sent = only(ollama.chat_requests(prompt), "Ollama chat request")
    assert route_of(sent) == "/v1/chat/completions", sent.path
    assert sent.body.get("model") == "llama3.2"
    assert sent.header("authorization") is None, f"no key configured: {sent.header('authorization')!r}"
    assert_no_user_token_upstream(sent)


# ---------------------------------------------------------------------------
# 8. A canary across vendors
# ---------------------------------------------------------------------------


def test_mixed_canary_across_vendors(sdk: openai.OpenAI) -> None:
    expected = {"v1": ("azure/gpt-4o", "azure deployment my-gpt: "), "v2": ("claude/claude-text", ANTHROPIC_TEXT_PREFIX)}
    run = uuid.uuid4().hex[:6]
    seen: dict[str, int] = {}
    for index in range(CANARY_REQUESTS):
        prompt = f"canary {run} {index}"
        raw = sdk.chat.completions.with_raw_response.create(
            model="mixed", messages=user_says(prompt), user=f"canary-user-{run}-{index}",
        )
        completion = raw.parse()
        version = raw.headers.get(VERSION_HEADER)
        assert version in expected, f"request {index}: {VERSION_HEADER} = {version!r}"
        backend, prefix = expected[version]
        assert raw.headers.get(BACKEND_HEADER) == backend, f"{version} is served by {backend}: {raw.headers}"
        assert completion.choices[0].message.content == prefix + prompt
        assert_completion_shape(completion, f"mixed {version}")
        seen[version] = seen.get(version, 0) + 1

    assert set(seen) == {"v1", "v2"}, f"both versions should serve a 50/50 canary: {seen}"


# ---------------------------------------------------------------------------
# 9. The mock speaking Anthropic
# ---------------------------------------------------------------------------


def test_mock_speaking_anthropic(sdk: openai.OpenAI) -> None:
    prompt = unique("echo through the anthropic mock")
    completion = sdk.chat.completions.create(model="sim-claude", messages=user_says(prompt))
    assert_completion_shape(completion, "sim-claude")
    assert completion.choices[0].message.content == prompt, "the mock echoes the last user message"

    stream = sdk.chat.completions.create(
        model="sim-claude", messages=user_says(prompt), stream=True, stream_options={"include_usage": True},
    )
    chunks, text, _ = collect_stream(stream)
    assert text == prompt
    assert finish_reasons(chunks) == ["stop"], finish_reasons(chunks)
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0, chunks[-1]


# ---------------------------------------------------------------------------
# 10. Model discovery
# ---------------------------------------------------------------------------


def provider_models(admin: httpx.Client, provider: str) -> dict[str, Any]:
    response = admin.get(f"/api/providers/{provider}/models")
    assert response.status_code == 200, f"{response.status_code} {response.text[:300]}"
    return response.json()


def discovered(admin: httpx.Client, provider: str) -> dict[str, Any]:
    """The provider's model list once the start-up fetch has stored it."""
    return poll(lambda: (lambda b: b if b.get("models") else None)(provider_models(admin, provider)),
                f"/api/providers/{provider}/models to list models")


def model_ids(listing: dict[str, Any]) -> set[str]:
    assert isinstance(listing.get("models"), list), listing
    return {m.get("id") for m in listing["models"]}


@pytest.mark.parametrize("provider, format_, expected", [
    ("claude", "anthropic", set(ANTHROPIC_MODELS)),
    ("azure", "azure", {"my-gpt"}),
    ("local", "ollama", {"llama3.2"}),
])
def test_provider_models_discovered(admin: httpx.Client, provider: str, format_: str, expected: set[str]) -> None:
    listing = discovered(admin, provider)

    assert listing.get("provider") == provider, listing
    assert listing.get("format") == format_, listing
    assert listing.get("error") is None, listing
    assert listing.get("fetched_at"), listing
    ids = model_ids(listing)
    if provider == "claude":
        assert ids == expected, listing
    else:
        assert expected <= ids, listing


def test_provider_models_refresh(admin: httpx.Client, claude: AnthropicUpstream) -> None:
    discovered(admin, "claude")
    before = len(claude.model_list_requests())

    response = admin.post("/api/providers/claude/refresh-models")

    assert response.status_code == 200, f"{response.status_code} {response.text[:300]}"
    listing = response.json()
    assert listing.get("provider") == "claude" and listing.get("format") == "anthropic", listing
    assert listing.get("error") is None and listing.get("fetched_at"), listing
    assert model_ids(listing) == set(ANTHROPIC_MODELS), listing
    fetches = claude.model_list_requests()[before:]
    assert fetches, "refresh-models should fetch the list from the provider now"
    assert fetches[-1].header("x-api-key") == ANTHROPIC_KEY
    assert fetches[-1].header("anthropic-version") == ANTHROPIC_VERSION


@pytest.mark.parametrize("method, path", [
    ("GET", "/api/providers/nope/models"), ("POST", "/api/providers/nope/refresh-models"),
])
def test_provider_models_unknown_provider(admin: httpx.Client, method: str, path: str) -> None:
    response = admin.request(method, path)
    assert response.status_code == 404, f"{response.status_code} {response.text[:300]}"


def test_provider_models_requires_admin(user_http: httpx.Client) -> None:
    response = user_http.get("/api/providers/claude/models")  # the user's token, not the admin's
    assert response.status_code in (401, 403), f"{response.status_code} {response.text[:300]}"


def test_validate_online_warns_about_missing_model(claude: AnthropicUpstream, tmp_path: Path) -> None:
    seed = tmp_path / "seed.toml"
    seed.write_text(VALIDATE_SEED_TEMPLATE.format(
        admin_token=ADMIN_TOKEN, claude_url=claude.base_url, claude_key=ANTHROPIC_KEY,
    ))
    before = len(claude.model_list_requests())

    result = subprocess.run(
        [str(gateway_binary()), "validate", str(seed), "--online"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )

    output = result.stdout + result.stderr
    assert result.returncode == 0, f"warnings only, so exit 0; got {result.returncode}:\n{output}"
    warnings = [line for line in output.splitlines() if "claude-missing" in line]
    assert warnings, f"no line names the missing model claude-missing:\n{output}"
    assert any("warn" in line.lower() for line in warnings), f"expected a warning line:\n{output}"
    assert len(claude.model_list_requests()) > before, "--online should ask the provider for its models"


# ---------------------------------------------------------------------------
# 11. Usage and cost
# ---------------------------------------------------------------------------


def usage_row(admin: httpx.Client, model: str) -> dict[str, Any]:
    response = admin.get("/api/usage", params={"group_by": "model"})
    assert response.status_code == 200, f"{response.status_code} {response.text[:300]}"
    rows = [r for r in response.json().get("rows", []) if r.get("key") == model]
    return rows[0] if rows else {"key": model, "requests": 0, "tokens_in": 0, "tokens_out": 0, "cost_usd": 0}


def settled_usage_row(admin: httpx.Client, model: str) -> dict[str, Any]:
    """The usage row once two reads 0.6 s apart agree (the writer flushes every 250 ms)."""
    previous = usage_row(admin, model)
    deadline = time.monotonic() + POLL_SECONDS
    while time.monotonic() < deadline:
        time.sleep(0.6)
        current = usage_row(admin, model)
        if current == previous:
            return current
        previous = current
    pytest.fail(f"usage of {model} kept changing for {POLL_SECONDS}s: {previous}", pytrace=False)


def test_usage_and_cost_for_anthropic(sdk: openai.OpenAI, admin: httpx.Client, claude: AnthropicUpstream) -> None:
    before = settled_usage_row(admin, "claude")
    prompts = [unique("usage plain"), unique("usage streamed with usage"), unique("usage streamed without")]
    sdk.chat.completions.create(model="claude", messages=user_says(prompts[0]))
    collect_stream(sdk.chat.completions.create(model="claude", messages=user_says(prompts[1]), stream=True,
                                               stream_options={"include_usage": True}))
    collect_stream(sdk.chat.completions.create(model="claude", messages=user_says(prompts[2]), stream=True))
    tokens = [served_usage(claude, p) for p in prompts]
    want_in = before["tokens_in"] + sum(t[0] for t in tokens)
    want_out = before["tokens_out"] + sum(t[1] for t in tokens)

    row = poll(lambda: (lambda r: r if r["tokens_in"] >= want_in and r["tokens_out"] >= want_out else None)(
        usage_row(admin, "claude")), f"usage of claude to reach {want_in}/{want_out} tokens")

    assert row["requests"] - before["requests"] == 3, f"before {before}, after {row}"
    assert (row["tokens_in"], row["tokens_out"]) == (want_in, want_out), \
        f"the upstream reported {tokens} for the three requests (streamed ones included); before {before}, after {row}"
    expected_cost = (row["tokens_in"] * COST_INPUT_PER_MTOK + row["tokens_out"] * COST_OUTPUT_PER_MTOK) / 1_000_000
    assert row["cost_usd"] > 0, row
    assert row["cost_usd"] == pytest.approx(expected_cost, rel=1e-6), \
        f"cost at ${COST_INPUT_PER_MTOK}/${COST_OUTPUT_PER_MTOK} per Mtok should be {expected_cost}: {row}"


def test_azure_responses_pass_through_to_the_v1_api_with_the_deployment_as_model(sdk: openai.OpenAI, azure: AzureUpstream) -> None:
    prompt = unique("azure responses")
    raw = sdk.responses.with_raw_response.create(model="gpt-azure", input=prompt)
    assert raw.parse().output_text == f"azure deployment my-gpt: {prompt}"
    assert raw.headers["x-switchyard-backend"] == "azure/gpt-4o"
    sent = only(azure.find(lambda r: route_of(r) == "/openai/v1/responses" and prompt in str(r.body)), "Azure Responses request")
    assert sent.body == {"model": "my-gpt", "input": prompt}
    assert sent.header("api-key") == AZURE_KEY
