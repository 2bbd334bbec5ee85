"""End-to-end tests: the client dialects beyond chat completions, with the official SDKs unmodified.

This module runs its own gateway on the seed below:
    echo    -> mock provider "demo" (OpenAI-shaped answers), upstream model "mock-echo"
    relay   -> OpenAI-compatible provider "up" (fake_upstream.py), upstream model "gpt-upstream"
    claude  -> mock provider "claudish" that speaks Anthropic's format
    sonnet  -> Anthropic provider "vendor" (vendor_upstreams.AnthropicUpstream), upstream model "claude-text"
    tooly   -> Anthropic provider "vendor", upstream model "claude-tool" (calls the first tool)
    chatty  -> provider "plain" on fake_upstream.py with `responses = false`: Responses requests translated to chat
    sturdy  -> failover: a port nothing listens on first, then the mock
    halves  -> a 50/50 split: v1 on the OpenAI-shaped mock, v2 on the Anthropic-speaking one
    kept    -> a random 50/50 split over two OpenAI-compatible upstreams that each store their own responses
    cachey  -> two versions on provider "up", for an experiment that counts cached tokens
    secret  -> exists, but alice may not use it
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Iterator

import anthropic
import httpx
import openai
import pytest

from conftest import ADMIN_TOKEN, ALICE_TOKEN, BOB_TOKEN, UPSTREAM_KEY, GatewaySeed, error_of, sdk_client
from fake_upstream import REPLY_PREFIX, RESPONSES_CACHED_TOKENS, FakeUpstream, free_port
from vendor_upstreams import (
    ANTHROPIC_KEY,
    ANTHROPIC_TEXT_PREFIX,
    ANTHROPIC_TOOL_INPUT,
    ANTHROPIC_TOOL_RESULT_PREFIX,
    AnthropicUpstream,
    route_of,
)

SEED = """\
[server]
admin_token = "{admin_token}"

[providers.demo]
format = "mock"

[providers.claudish]
format = "mock"
speaks = "anthropic"

[providers.up]
format = "openai"
base_url = "{upstream_url}"
api_key = "env:E2E_UPSTREAM_KEY"
cost_input_per_mtok = 1000
cost_cached_input_per_mtok = 100

[providers.plain]
format = "openai"
base_url = "{upstream_url}"
api_key = "env:E2E_UPSTREAM_KEY"
responses = false

[providers.vendor]
format = "anthropic"
base_url = "{claude_url}"
api_key = "{claude_key}"

[models.echo]
backends = [ {{ provider = "demo", model = "mock-echo", mock = {{ chunks = 3 }} }} ]

[models.relay]
backends = [ {{ provider = "up", model = "gpt-upstream" }} ]

[models.claude]
backends = [ {{ provider = "claudish", model = "claude-mock" }} ]

[models.sonnet]
backends = [ {{ provider = "vendor", model = "claude-text" }} ]

[models.chatty]
backends = [ {{ provider = "plain", model = "gpt-chat-only" }} ]

[models.tooly]
backends = [ {{ provider = "vendor", model = "claude-tool" }} ]

[providers.dead]
format = "openai"
base_url = "{dead_url}"

[models.sturdy]
strategy = "failover"
backends = [ {{ provider = "dead", model = "x", priority = 1 }}, {{ provider = "demo", model = "mock-echo", priority = 2 }} ]

[models.halves]
[models.halves.versions.v1]
weight = 50
default = true
backends = [ {{ provider = "demo", model = "a" }} ]
[models.halves.versions.v2]
weight = 50
backends = [ {{ provider = "claudish", model = "b" }} ]

[models.secret]
backends = [ {{ provider = "demo", model = "x" }} ]

[providers.keeper]
format = "openai"
base_url = "{keeper_url}"

[models.kept]
sticky = "none"
[models.kept.versions.v1]
weight = 50
default = true
backends = [ {{ provider = "up", model = "gpt-kept-a" }} ]
[models.kept.versions.v2]
weight = 50
backends = [ {{ provider = "keeper", model = "gpt-kept-b" }} ]

[models.cachey]
[models.cachey.versions.v1]
weight = 50
default = true
backends = [ {{ provider = "up", model = "gpt-cache-a" }} ]
[models.cachey.versions.v2]
weight = 50
backends = [ {{ provider = "up", model = "gpt-cache-b" }} ]

[users.alice]
token = "{alice_token}"
allowed_models = ["echo", "relay", "claude", "sonnet", "chatty", "tooly", "sturdy", "halves", "kept", "cachey"]

[users.bob]
token = "{bob_token}"
allowed_models = ["kept"]
"""


@pytest.fixture(scope="module")
def claude() -> Iterator[AnthropicUpstream]:
    with AnthropicUpstream() as server:
        yield server


@pytest.fixture(scope="module")
def keeper() -> Iterator[FakeUpstream]:
    with FakeUpstream() as server:
        yield server


@pytest.fixture(scope="module")
def gateway_seed(upstream: FakeUpstream, claude: AnthropicUpstream, keeper: FakeUpstream) -> GatewaySeed:
    toml = SEED.format(admin_token=ADMIN_TOKEN, upstream_url=upstream.base_url, alice_token=ALICE_TOKEN, bob_token=BOB_TOKEN,
                       claude_url=claude.base_url, claude_key=ANTHROPIC_KEY, dead_url=f"http://127.0.0.1:{free_port()}/v1",
                       keeper_url=keeper.base_url)
    return GatewaySeed(toml, ADMIN_TOKEN, ALICE_TOKEN, env={"E2E_UPSTREAM_KEY": UPSTREAM_KEY})


@pytest.fixture(scope="module")
def admin_http(gateway: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30) as client:
        yield client


def marker(label: str) -> str:
    return f"{label} {uuid.uuid4().hex[:10]}"


# ---------------------------------------------------------------------------
# GET /v1/models/{id}
# ---------------------------------------------------------------------------


def test_models_retrieve_answers_in_openais_shape(sdk: openai.OpenAI) -> None:
    model = sdk.models.retrieve("relay")
    assert model.id == "relay"
    assert model.object == "model"
    assert model.owned_by == "switchyard"


def test_models_retrieve_of_an_unknown_or_forbidden_model_is_a_404(sdk: openai.OpenAI, user_http: httpx.Client) -> None:
    for name in ("no-such-model", "secret"):
        with pytest.raises(openai.NotFoundError) as raised:
            sdk.models.retrieve(name)
        assert raised.value.code == "model_not_found", name
        assert name in raised.value.message
    answer = user_http.get("/v1/models/secret")
    assert answer.status_code == 404
    assert error_of(answer)["code"] == "model_not_found"


def test_models_retrieve_needs_a_token(http: httpx.Client) -> None:
    answer = http.get("/v1/models/echo")
    assert answer.status_code == 401
    assert error_of(answer)["code"] == "invalid_api_key"


# ---------------------------------------------------------------------------
# POST /v1/completions
# ---------------------------------------------------------------------------


def test_completions_pass_through_to_an_openai_backend(sdk: openai.OpenAI, upstream: FakeUpstream) -> None:
    prompt = marker("legacy")
    completion = sdk.completions.create(model="relay", prompt=prompt, max_tokens=5)
    assert completion.object == "text_completion"
    assert completion.choices[0].text == REPLY_PREFIX + prompt
    assert completion.usage is not None and completion.usage.prompt_tokens > 0
    sent = [r for r in upstream.requests if r.path.startswith("/v1/completions") and r.body.get("prompt") == prompt]
    assert len(sent) == 1, upstream.requests
    assert sent[0].body["model"] == "gpt-upstream"
    assert sent[0].body["max_tokens"] == 5
    assert sent[0].header("authorization") == f"Bearer {UPSTREAM_KEY}"


def test_completions_stream_from_an_openai_backend(sdk: openai.OpenAI) -> None:
    prompt = marker("legacy stream")
    chunks = list(sdk.completions.create(model="relay", prompt=prompt, stream=True))
    text = "".join(c.choices[0].text for c in chunks if c.choices)
    assert text == REPLY_PREFIX + prompt
    # The gateway asks for usage upstream but the client did not: no usage-only chunk reaches it.
    assert all(c.choices for c in chunks)


def test_completions_from_the_mock(sdk: openai.OpenAI) -> None:
    prompt = marker("mock legacy")
    completion = sdk.completions.create(model="echo", prompt=prompt)
    assert completion.choices[0].text == prompt
    assert completion.model == "mock-echo"
    stream = sdk.completions.create(model="echo", prompt=[prompt], stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    assert "".join(c.choices[0].text for c in chunks if c.choices) == prompt
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0


def test_completions_to_an_anthropic_backend_are_a_400_naming_the_problem(sdk: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        sdk.completions.create(model="claude", prompt="hi")
    assert raised.value.code == "unsupported_endpoint"
    assert "/v1/completions" in raised.value.message and "Anthropic" in raised.value.message


def test_completions_need_a_prompt(user_http: httpx.Client) -> None:
    answer = user_http.post("/v1/completions", json={"model": "echo"})
    assert answer.status_code == 400
    assert error_of(answer)["param"] == "prompt"


def test_completions_are_recorded_like_chat(sdk: openai.OpenAI, admin_http: httpx.Client) -> None:
    def relay_requests() -> int:
        rows = {row["key"]: row for row in admin_http.get("/api/usage?group_by=model").json()["rows"]}
        return rows.get("relay", {}).get("requests", 0)

    time.sleep(1.0)  # the earlier tests' outcomes, still in the writer's batch
    before = relay_requests()
    sdk.completions.create(model="relay", prompt=marker("recorded"))
    deadline = time.monotonic() + 10
    while relay_requests() < before + 1 and time.monotonic() < deadline:
        time.sleep(0.3)
    assert relay_requests() == before + 1


# ---------------------------------------------------------------------------
# POST /v1/messages (Anthropic Messages in front)
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def claude_sdk(gateway: str) -> Iterator[anthropic.Anthropic]:
    """The Anthropic SDK as alice: the token as `x-api-key`, as the SDK sends it."""
    with anthropic.Anthropic(base_url=gateway, api_key=ALICE_TOKEN, max_retries=0) as client:
        yield client


def says(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def text_of(message) -> str:
    return "".join(block.text for block in message.content if block.type == "text")


def test_messages_pass_through_to_an_anthropic_backend(claude_sdk: anthropic.Anthropic, claude: AnthropicUpstream) -> None:
    prompt = marker("passed")
    message = claude_sdk.messages.create(model="sonnet", max_tokens=50, system="Be brief.", messages=says(prompt),
                                         stop_sequences=["THE END"])
    assert message.type == "message" and message.role == "assistant"
    assert text_of(message) == ANTHROPIC_TEXT_PREFIX + prompt
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0
    sent = claude.messages_requests(prompt)
    assert len(sent) == 1
    # The client's version goes on (the SDK's own, not the provider's default), and the provider's key.
    assert sent[0].header("anthropic-version") == claude_sdk.default_headers["anthropic-version"]
    assert sent[0].header("x-api-key") == ANTHROPIC_KEY
    # Member for member as the client sent it, but for the model.
    assert sent[0].body == {"max_tokens": 50, "messages": says(prompt), "model": "claude-text", "system": "Be brief.",
                            "stop_sequences": ["THE END"]}


def test_messages_stream_through_from_an_anthropic_backend(claude_sdk: anthropic.Anthropic) -> None:
    prompt = marker("passed stream")
    with claude_sdk.messages.stream(model="sonnet", max_tokens=50, messages=says(prompt)) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == ANTHROPIC_TEXT_PREFIX + prompt
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens > 0


@pytest.mark.parametrize("model, expected", [("relay", REPLY_PREFIX + "{}"), ("echo", "{}"), ("claude", "{}")])
def test_messages_are_translated_for_other_backends(claude_sdk: anthropic.Anthropic, upstream: FakeUpstream,
                                                    model: str, expected: str) -> None:
    prompt = marker(f"translated {model}")
    message = claude_sdk.messages.create(model=model, max_tokens=50, system="Be brief.", messages=says(prompt))
    assert text_of(message) == expected.format(prompt)
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0
    if model == "relay":
        sent = [r for r in upstream.requests if route_of(r) == "/v1/chat/completions" and prompt in str(r.body)]
        assert len(sent) == 1
        assert sent[0].body["messages"][0] == {"role": "system", "content": "Be brief."}
        assert sent[0].body["model"] == "gpt-upstream"


@pytest.mark.parametrize("model, expected", [("relay", REPLY_PREFIX + "{}"), ("echo", "{}")])
def test_messages_stream_translated_from_chat_backends(claude_sdk: anthropic.Anthropic, model: str, expected: str) -> None:
    prompt = marker(f"translated stream {model}")
    with claude_sdk.messages.stream(model=model, max_tokens=50, messages=says(prompt)) as stream:
        events = [event.type for event in stream]
        final = stream.get_final_message()
    assert text_of(final) == expected.format(prompt)
    assert events[0] == "message_start" and "content_block_delta" in events
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens > 0


def test_messages_take_a_bearer_token_too(gateway: str) -> None:
    with anthropic.Anthropic(base_url=gateway, auth_token=ALICE_TOKEN, api_key=None, max_retries=0) as client:
        message = client.messages.create(model="echo", max_tokens=20, messages=says("bearer"))
    assert text_of(message) == "bearer"


def test_messages_errors_come_in_anthropics_shape(claude_sdk: anthropic.Anthropic, gateway: str) -> None:
    with pytest.raises(anthropic.NotFoundError) as raised:
        claude_sdk.messages.create(model="no-such-model", max_tokens=20, messages=says("hi"))
    assert raised.value.body["type"] == "error"
    assert raised.value.body["error"]["type"] == "not_found_error"
    assert "no-such-model" in raised.value.body["error"]["message"]
    with anthropic.Anthropic(base_url=gateway, api_key="sk-wrong", max_retries=0) as stranger:
        with pytest.raises(anthropic.AuthenticationError) as raised:
            stranger.messages.create(model="echo", max_tokens=20, messages=says("hi"))
    assert raised.value.body["error"]["type"] == "authentication_error"
    # What cannot become a chat request is refused naming the field, before any backend is tried.
    with pytest.raises(anthropic.BadRequestError) as raised:
        claude_sdk.messages.create(model="relay", max_tokens=20, messages=[{"role": "user", "content": 5}])
    assert raised.value.body["error"]["type"] == "invalid_request_error"


def test_messages_upstream_errors_keep_anthropics_shape(claude_sdk: anthropic.Anthropic, claude: AnthropicUpstream) -> None:
    with pytest.raises(anthropic.BadRequestError) as raised:
        claude_sdk.messages.create(model="sonnet", max_tokens=20, messages=says("hi"), stop_sequences=[5])  # type: ignore[list-item]
    assert raised.value.body["type"] == "error"


def test_count_tokens_pass_through_to_anthropic(claude_sdk: anthropic.Anthropic, claude: AnthropicUpstream) -> None:
    prompt = marker("count")
    raw = claude_sdk.messages.with_raw_response.count_tokens(model="sonnet", messages=says(prompt))
    assert raw.parse().input_tokens > 0
    assert raw.headers.get("x-switchyard-token-count") is None
    sent = [r for r in claude.requests if route_of(r) == "/v1/messages/count_tokens" and prompt in str(r.body)]
    assert len(sent) == 1 and sent[0].body["model"] == "claude-text"


@pytest.mark.parametrize("model", ["relay", "echo", "claude"])
def test_count_tokens_are_estimated_for_other_backends(claude_sdk: anthropic.Anthropic, upstream: FakeUpstream, model: str) -> None:
    prompt = marker("estimate") + " some more words to count"
    before = len(upstream.requests)
    raw = claude_sdk.messages.with_raw_response.count_tokens(model=model, messages=says(prompt))
    assert raw.parse().input_tokens >= len(prompt) // 4
    if model != "claude":
        assert raw.headers.get("x-switchyard-token-count") == "estimated"
        assert len(upstream.requests) == before  # no call upstream


def test_messages_usage_is_recorded_for_streams_and_answers(claude_sdk: anthropic.Anthropic, admin_http: httpx.Client) -> None:
    def sonnet_row() -> dict:
        rows = {row["key"]: row for row in admin_http.get("/api/usage?group_by=model").json()["rows"]}
        return rows.get("sonnet", {})

    time.sleep(1.0)  # the earlier tests' outcomes, still in the writer's batch
    before = sonnet_row()
    claude_sdk.messages.create(model="sonnet", max_tokens=50, messages=says(marker("usage plain")))
    with claude_sdk.messages.stream(model="sonnet", max_tokens=50, messages=says(marker("usage stream"))) as stream:
        final = stream.get_final_message()
    deadline = time.monotonic() + 10
    while sonnet_row().get("requests", 0) < before.get("requests", 0) + 2 and time.monotonic() < deadline:
        time.sleep(0.3)
    after = sonnet_row()
    assert after["requests"] == before.get("requests", 0) + 2, after
    grew = {key: after[key] - before.get(key, 0) for key in ("tokens_in", "tokens_out")}
    assert grew and all(value > 0 for value in grew.values()), (grew, final.usage)


# ---------------------------------------------------------------------------
# POST /v1/responses
# ---------------------------------------------------------------------------


def test_responses_pass_through_to_an_openai_backend(sdk: openai.OpenAI, upstream: FakeUpstream) -> None:
    prompt = marker("responses passed")
    response = sdk.responses.create(model="relay", input=prompt, instructions="Be brief.", max_output_tokens=40)
    assert response.object == "response" and response.status == "completed"
    assert response.output_text == REPLY_PREFIX + prompt
    assert response.usage is not None
    assert response.usage.input_tokens_details.cached_tokens == RESPONSES_CACHED_TOKENS
    sent = [r for r in upstream.requests if route_of(r) == "/v1/responses" and r.body.get("input") == prompt]
    assert len(sent) == 1
    assert sent[0].body == {"model": "gpt-upstream", "input": prompt, "instructions": "Be brief.", "max_output_tokens": 40}


def test_responses_stream_through_from_an_openai_backend(sdk: openai.OpenAI) -> None:
    prompt = marker("responses passed stream")
    events = list(sdk.responses.create(model="relay", input=prompt, stream=True))
    assert events[0].type == "response.created"
    assert events[-1].type == "response.completed"
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == REPLY_PREFIX + prompt
    assert events[-1].response.usage.input_tokens_details.cached_tokens == RESPONSES_CACHED_TOKENS


@pytest.mark.parametrize("model, expected", [("chatty", REPLY_PREFIX + "{}"), ("echo", "{}"), ("claude", "{}"),
                                             ("sonnet", ANTHROPIC_TEXT_PREFIX + "{}")])
def test_responses_are_translated_for_other_backends(sdk: openai.OpenAI, upstream: FakeUpstream, model: str, expected: str) -> None:
    prompt = marker(f"responses {model}")
    response = sdk.responses.create(model=model, input=[{"role": "user", "content": prompt}], instructions="Be brief.",
                                    max_output_tokens=60)
    assert response.status == "completed"
    assert response.output_text == expected.format(prompt)
    assert response.usage is not None and response.usage.output_tokens > 0
    if model == "chatty":
        sent = [r for r in upstream.requests if route_of(r) == "/v1/chat/completions" and prompt in str(r.body)]
        assert len(sent) == 1
        assert sent[0].body["messages"][0] == {"role": "system", "content": "Be brief."}
        assert sent[0].body["model"] == "gpt-chat-only"


@pytest.mark.parametrize("model, expected", [("chatty", REPLY_PREFIX + "{}"), ("echo", "{}"), ("sonnet", ANTHROPIC_TEXT_PREFIX + "{}")])
def test_responses_stream_translated_for_other_backends(sdk: openai.OpenAI, model: str, expected: str) -> None:
    prompt = marker(f"responses stream {model}")
    events = list(sdk.responses.create(model=model, input=prompt, stream=True))
    assert events[0].type == "response.created"
    assert events[-1].type == "response.completed"
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == expected.format(prompt)
    assert events[-1].response.output_text == expected.format(prompt)
    assert events[-1].response.usage.output_tokens > 0


@pytest.mark.parametrize("extra, field", [({"previous_response_id": "resp_123"}, "previous_response_id"),
                                          ({"tools": [{"type": "web_search"}]}, "tools[0].type"),
                                          ({"background": True}, "background")])
def test_responses_that_cannot_be_translated_are_refused_naming_the_field(sdk: openai.OpenAI, extra: dict, field: str) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        sdk.responses.create(model="echo", input="hi", **extra)
    assert raised.value.param == field


def test_responses_need_input(user_http: httpx.Client) -> None:
    answer = user_http.post("/v1/responses", json={"model": "echo"})
    assert answer.status_code == 400
    assert error_of(answer)["param"] == "input"


# ---------------------------------------------------------------------------
# Stored responses: read back and continued on the backend that made them
# ---------------------------------------------------------------------------


def test_follow_ups_reach_the_backend_that_stored_the_previous_response(sdk: openai.OpenAI) -> None:
    # `kept` splits at random between two upstreams with separate stores: only a pinned follow-up finds its predecessor.
    backends_of_first_turns = set()
    for chain in range(16):
        first = sdk.responses.with_raw_response.create(model="kept", input=marker(f"chain {chain}"))
        backend = first.headers["x-switchyard-backend"]
        backends_of_first_turns.add(backend)
        previous = first.parse().id
        for turn in range(2):
            follow_up = sdk.responses.with_raw_response.create(model="kept", input=f"turn {turn}", previous_response_id=previous,
                                                                stream=turn == 1)
            assert follow_up.headers["x-switchyard-backend"] == backend
            if turn == 1:
                events = list(follow_up.parse())
                assert events[-1].type == "response.completed"
                previous = events[0].response.id
            else:
                assert follow_up.parse().previous_response_id == previous
                previous = follow_up.parse().id
        assert sdk.responses.retrieve(previous).id == previous  # the streamed turn was bound too
    assert backends_of_first_turns == {"up/gpt-kept-a", "keeper/gpt-kept-b"}


def test_stored_responses_are_read_listed_and_deleted_at_their_backend(sdk: openai.OpenAI, upstream: FakeUpstream,
                                                                         keeper: FakeUpstream) -> None:
    prompt = marker("stored")
    created = sdk.responses.with_raw_response.create(model="kept", input=prompt)
    response = created.parse()
    holder = upstream if created.headers["x-switchyard-backend"].startswith("up/") else keeper
    fetched = sdk.responses.with_raw_response.retrieve(response.id)
    assert fetched.headers["x-switchyard-backend"] == created.headers["x-switchyard-backend"]
    assert fetched.parse().id == response.id and fetched.parse().output_text == REPLY_PREFIX + prompt
    other = keeper if holder is upstream else upstream
    assert [r.method for r in holder.requests if r.path == f"/v1/responses/{response.id}"] == ["GET"]
    assert not [r for r in other.requests if response.id in r.path]
    items = sdk.responses.input_items.list(response.id)
    assert items.data[0].content == prompt or items.data[0].content[0].text == prompt
    assert sdk.responses.delete(response.id) is None
    with pytest.raises(openai.NotFoundError) as raised:
        sdk.responses.retrieve(response.id)
    assert raised.value.body["param"] == "response_id"  # unbound after the delete: the gateway answers


def test_a_stored_response_that_breaks_off_is_cut_for_the_client_too(sdk: openai.OpenAI, gateway: str) -> None:
    response = sdk.responses.create(model="kept", input=marker("cut"))
    # The upstream promises a length and closes halfway: the client must see a cut answer at once,
    # not wait on a kept-alive connection for bytes that will never come.
    started = time.monotonic()
    with httpx.Client(base_url=gateway, timeout=10) as http, pytest.raises(httpx.RemoteProtocolError):
        http.get(f"/v1/responses/{response.id}", params={"cut": "1"}, headers={"Authorization": f"Bearer {ALICE_TOKEN}"})
    assert time.monotonic() - started < 5


def test_unknown_unstored_translated_or_foreign_responses_are_a_404(sdk: openai.OpenAI, gateway: str, upstream: FakeUpstream,
                                                                    keeper: FakeUpstream) -> None:
    unstored = sdk.responses.create(model="kept", input=marker("not stored"), store=False)
    translated = sdk.responses.create(model="echo", input=marker("translated"))
    mine = sdk.responses.create(model="kept", input=marker("alice's"))
    bob = sdk_client(gateway, BOB_TOKEN)
    asked_upstream = len(upstream.requests) + len(keeper.requests)
    for client, response_id in [(sdk, "resp_nobody_made_this"), (sdk, unstored.id), (sdk, translated.id), (bob, mine.id)]:
        with pytest.raises(openai.NotFoundError) as raised:
            client.responses.retrieve(response_id)
        assert raised.value.body["param"] == "response_id" and response_id in raised.value.body["message"]
    with pytest.raises(openai.NotFoundError):
        bob.responses.delete(mine.id)
    assert len(upstream.requests) + len(keeper.requests) == asked_upstream
    assert sdk.responses.retrieve(mine.id).id == mine.id


def test_previous_response_id_must_be_a_string(user_http: httpx.Client) -> None:
    answer = user_http.post("/v1/responses", json={"model": "kept", "input": "hi", "previous_response_id": 7})
    assert answer.status_code == 400
    assert error_of(answer)["param"] == "previous_response_id"


def test_stored_response_paths_need_a_token(http: httpx.Client) -> None:
    answer = http.get("/v1/responses/resp_x")
    assert answer.status_code == 401
    assert error_of(answer)["code"] == "invalid_api_key"


# ---------------------------------------------------------------------------
# Cached prompt tokens: usage reports, cost and metrics
# ---------------------------------------------------------------------------


def test_cached_prompt_tokens_are_recorded_priced_and_measured(sdk: openai.OpenAI, admin_http: httpx.Client, http: httpx.Client) -> None:
    def relay_row() -> dict:
        rows = {row["key"]: row for row in admin_http.get("/api/usage?group_by=model").json()["rows"]}
        return rows.get("relay", {})

    time.sleep(1.0)  # the earlier tests' outcomes, still in the writer's batch
    before = relay_row()
    response = sdk.responses.create(model="relay", input=marker("cached"))
    usage = response.usage
    assert usage is not None and usage.input_tokens_details.cached_tokens == RESPONSES_CACHED_TOKENS
    deadline = time.monotonic() + 10
    while relay_row().get("requests", 0) < before.get("requests", 0) + 1 and time.monotonic() < deadline:
        time.sleep(0.3)
    after = relay_row()
    assert after["cached_tokens_in"] - before.get("cached_tokens_in", 0) == RESPONSES_CACHED_TOKENS
    assert after["tokens_in"] - before.get("tokens_in", 0) == usage.input_tokens
    # $1000 per million plain input tokens, $100 per million cached ones, output free.
    expected = ((usage.input_tokens - RESPONSES_CACHED_TOKENS) * 1000 + RESPONSES_CACHED_TOKENS * 100) / 1_000_000
    assert abs((after["cost_usd"] - before.get("cost_usd", 0)) - expected) < 1e-6
    metrics = http.get("/metrics").text
    assert 'gen_ai_token_type="cached_input"' in metrics


# ---------------------------------------------------------------------------
# Tool round trips across formats
# ---------------------------------------------------------------------------

WEATHER_FUNCTION = {"type": "function", "name": "get_weather", "description": "Weather in a city.",
                    "parameters": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]}}


def test_responses_function_tool_round_trip_over_anthropic(sdk: openai.OpenAI) -> None:
    question = marker("weather")
    first = sdk.responses.create(model="tooly", input=question, tools=[WEATHER_FUNCTION], max_output_tokens=100)
    calls = [item for item in first.output if item.type == "function_call"]
    assert len(calls) == 1, first.output
    assert calls[0].name == "get_weather" and json.loads(calls[0].arguments) == ANTHROPIC_TOOL_INPUT
    followup = [{"role": "user", "content": question},
                {"type": "function_call", "call_id": calls[0].call_id, "name": calls[0].name, "arguments": calls[0].arguments},
                {"type": "function_call_output", "call_id": calls[0].call_id, "output": "sunny, 21 C"}]
    second = sdk.responses.create(model="tooly", input=followup, tools=[WEATHER_FUNCTION], max_output_tokens=100)
    assert second.output_text == ANTHROPIC_TOOL_RESULT_PREFIX + "sunny, 21 C"


def test_messages_tool_use_round_trip_passed_through(claude_sdk: anthropic.Anthropic) -> None:
    tool = {"name": "get_weather", "description": "Weather in a city.",
            "input_schema": WEATHER_FUNCTION["parameters"]}
    question = says(marker("weather"))
    first = claude_sdk.messages.create(model="tooly", max_tokens=100, tools=[tool], messages=question)
    uses = [block for block in first.content if block.type == "tool_use"]
    assert first.stop_reason == "tool_use" and len(uses) == 1 and uses[0].input == ANTHROPIC_TOOL_INPUT
    followup = question + [{"role": "assistant", "content": [block.model_dump(exclude_none=True) for block in first.content]},
                           {"role": "user", "content": [{"type": "tool_result", "tool_use_id": uses[0].id, "content": "rainy"}]}]
    second = claude_sdk.messages.create(model="tooly", max_tokens=100, tools=[tool], messages=followup)
    assert text_of(second) == ANTHROPIC_TOOL_RESULT_PREFIX + "rainy"


def test_messages_images_are_translated_for_chat_backends(claude_sdk: anthropic.Anthropic, upstream: FakeUpstream) -> None:
    prompt = marker("picture")
    pixel = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
    message = claude_sdk.messages.create(model="relay", max_tokens=50, messages=[{"role": "user", "content": [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": pixel}},
        {"type": "text", "text": prompt}]}])
    assert text_of(message) == REPLY_PREFIX + prompt
    sent = [r for r in upstream.requests if route_of(r) == "/v1/chat/completions" and prompt in str(r.body)]
    assert len(sent) == 1
    parts = sent[0].body["messages"][-1]["content"]
    assert {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{pixel}"}} in parts, parts


# ---------------------------------------------------------------------------
# The new endpoints get chat's routing: failover and release splits
# ---------------------------------------------------------------------------


def test_every_dialect_fails_over_like_chat(sdk: openai.OpenAI, claude_sdk: anthropic.Anthropic) -> None:
    prompt = marker("failover")
    raw = sdk.responses.with_raw_response.create(model="sturdy", input=prompt)
    assert raw.parse().output_text == prompt
    assert raw.headers["x-switchyard-backend"] == "demo/mock-echo"
    raw = claude_sdk.messages.with_raw_response.create(model="sturdy", max_tokens=20, messages=says(prompt))
    assert text_of(raw.parse()) == prompt and raw.headers["x-switchyard-backend"] == "demo/mock-echo"
    raw = sdk.completions.with_raw_response.create(model="sturdy", prompt=prompt)
    assert raw.parse().choices[0].text == prompt and raw.headers["x-switchyard-backend"] == "demo/mock-echo"


def test_every_dialect_follows_the_release_split(sdk: openai.OpenAI, claude_sdk: anthropic.Anthropic) -> None:
    # Sticky by end user (the `user` field, else the account), whatever the dialect.
    seen: set[str] = set()
    for index in range(60):
        raw = sdk.responses.with_raw_response.create(model="halves", input="split", user=f"end-user-{index}")
        assert raw.parse().output_text == "split"
        seen.add(raw.headers["x-switchyard-version"])
        if len(seen) == 2:
            break
    assert seen == {"v1", "v2"}
    account = sdk.responses.with_raw_response.create(model="halves", input="split").headers["x-switchyard-version"]
    for _ in range(3):
        raw = claude_sdk.messages.with_raw_response.create(model="halves", max_tokens=20, messages=says("split"))
        assert text_of(raw.parse()) == "split"
        assert raw.headers["x-switchyard-version"] == account


def test_experiment_results_count_cached_prompt_tokens(sdk: openai.OpenAI, admin_http: httpx.Client) -> None:
    created = admin_http.post("/api/experiments", json={
        "name": "cached tokens", "model": "cachey", "control": "A",
        "variants": [{"id": "A", "version": "v1"}, {"id": "B", "version": "v2"}]})
    assert created.status_code == 201, created.text
    experiment = created.json()["id"]
    assert admin_http.post(f"/api/experiments/{experiment}/start").status_code == 200
    try:
        for index in range(6):
            sdk.responses.create(model="cachey", input=marker(f"cached {index}"))
        deadline = time.monotonic() + 10
        while True:
            variants = admin_http.get(f"/api/experiments/{experiment}/results").json()["variants"]
            if sum(v["requests"] for v in variants) >= 6 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert sum(v["requests"] for v in variants) == 6
        assert sum(v["cached_tokens_in"] for v in variants) == 6 * RESPONSES_CACHED_TOKENS
        assert all(v["cached_tokens_in"] <= v["tokens_in"] and v["cache_write_tokens_in"] == 0 for v in variants)
    finally:
        admin_http.post(f"/api/experiments/{experiment}/complete")


# ---------------------------------------------------------------------------
# The admin API's views of the dialects: decide and usage by endpoint
# ---------------------------------------------------------------------------


def decide(admin_http: httpx.Client, **body) -> dict:
    answer = admin_http.post("/api/routing/decide", json=body)
    assert answer.status_code == 200, answer.text
    return answer.json()


@pytest.mark.parametrize("endpoint, model, mode", [
    ("chat/completions", "relay", "pass_through"), ("/v1/chat/completions", "sonnet", "translated"),
    ("completions", "sonnet", "refused"), ("completions", "echo", "simulated"),
    ("responses", "relay", "pass_through"), ("responses", "chatty", "translated"), ("responses", "sonnet", "translated"),
    ("messages", "sonnet", "pass_through"), ("messages", "relay", "translated"), ("messages", "claude", "simulated"),
    ("messages/count_tokens", "relay", "estimated"), ("/v1/messages/count_tokens", "sonnet", "pass_through"),
])
def test_decide_says_how_each_endpoint_reaches_the_backend(admin_http: httpx.Client, endpoint: str, model: str, mode: str) -> None:
    decision = decide(admin_http, model=model, endpoint=endpoint)
    assert decision["endpoint"] == endpoint.removeprefix("/v1/")
    assert decision["delivery"]["mode"] == mode and decision["delivery"]["detail"]
    assert [c["delivery"]["mode"] for c in decision["candidates"]] == [mode]


def test_decide_follows_a_stored_response_like_the_request_path(sdk: openai.OpenAI, admin_http: httpx.Client) -> None:
    for _ in range(4):
        created = sdk.responses.with_raw_response.create(model="kept", input=marker("decide"))
        decision = decide(admin_http, model="kept", endpoint="responses", api_user="alice", previous_response_id=created.parse().id)
        assert decision["backend"] == created.headers["x-switchyard-backend"]
        assert decision["session"]["use"] == "kept"


def test_decide_refuses_unknown_endpoints_and_misplaced_response_ids(admin_http: httpx.Client) -> None:
    for body, field in [({"endpoint": "v2/chat"}, "endpoint"), ({"endpoint": 3}, "endpoint"),
                        ({"previous_response_id": "resp_1"}, "previous_response_id")]:
        answer = admin_http.post("/api/routing/decide", json={"model": "relay", **body})
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"]["field"] == field


def test_usage_is_grouped_and_filtered_by_endpoint(sdk: openai.OpenAI, claude_sdk: anthropic.Anthropic, admin_http: httpx.Client) -> None:
    def by_endpoint() -> dict[str, int]:
        rows = admin_http.get("/api/usage", params={"group_by": "endpoint", "model": "echo"}).json()["rows"]
        return {row["key"]: row["requests"] for row in rows if row["role"] == "primary"}
    before = by_endpoint()
    sdk.responses.create(model="echo", input="hi")
    sdk.completions.create(model="echo", prompt="hi")
    claude_sdk.messages.create(model="echo", max_tokens=20, messages=says("hi"))
    claude_sdk.messages.create(model="echo", max_tokens=20, messages=says("hi"))
    expected = {key: before.get(key, 0) + added for key, added in {"responses": 1, "completions": 1, "messages": 2}.items()}
    deadline = time.monotonic() + 10
    while any(by_endpoint().get(key, 0) < count for key, count in expected.items()) and time.monotonic() < deadline:
        time.sleep(0.1)
    after = by_endpoint()
    assert {key: after.get(key, 0) for key in expected} == expected
    only_messages = admin_http.get("/api/usage", params={"group_by": "model", "endpoint": "/v1/messages", "model": "echo"}).json()
    assert [row["requests"] for row in only_messages["rows"] if row["role"] == "primary"] == [expected["messages"]]
    refused = admin_http.get("/api/usage", params={"endpoint": "v1/nothing"})
    assert refused.status_code == 400 and refused.json()["error"]["field"] == "endpoint"


# ---------------------------------------------------------------------------
# Pass-through is byte for byte: only the model's value changes
# ---------------------------------------------------------------------------

# Odd spacing, member order, escapes, number spellings and unknown members the gateway must not touch.
PASSED_BODIES = {
    "/v1/chat/completions": ('{ "messages" :[ {"role":"user","content":"caf\\u00e9 %s \\ud83d\\ude00"} ],\n'
                             '  "model" : "relay", "temperature":1.0e0, "x_vendor": {"keep": [1, 2.50, null]} }'),
    "/v1/completions": '{"prompt":"%s","max_tokens" : 16,"model":"relay","logit_bias":{"50256":-100}}',
    "/v1/responses": '{"input": "%s", "model":"relay" ,"metadata":{"k":"v"},"text":{"format":{"type":"text"}}}',
    "/v1/embeddings": '{"model":\t"relay","input":["%s", "b"],"encoding_format":"float"}',
    "/v1/messages": ('{"model": "sonnet", "max_tokens": 20, "system": [{"type": "text", "text": "s", '
                     '"cache_control": {"type": "ephemeral"}}], "messages": [{"role": "user", "content": "%s"}]}'),
}


@pytest.mark.parametrize("path", sorted(PASSED_BODIES))
def test_a_passed_through_body_reaches_the_upstream_byte_for_byte_but_the_model(
        path: str, gateway: str, upstream: FakeUpstream, claude: AnthropicUpstream) -> None:
    label = marker("bytes").replace(" ", "-")
    sent = (PASSED_BODIES[path] % label).encode()
    headers = {"Authorization": f"Bearer {ALICE_TOKEN}", "Content-Type": "application/json", "anthropic-version": "2023-06-01"}
    answer = httpx.post(f"{gateway}{path}", content=sent, headers=headers, timeout=30)
    assert answer.status_code == 200, answer.text
    server, model, upstream_model = (claude, '"sonnet"', '"claude-text"') if path == "/v1/messages" else (upstream, '"relay"', '"gpt-upstream"')
    received = [r.raw for r in server.requests if label.encode() in r.raw]
    assert received == [sent.replace(model.encode(), upstream_model.encode(), 1)]
