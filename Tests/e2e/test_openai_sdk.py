"""End-to-end tests: the official `openai` SDK against a running Switchyard.

Models (see the seed in conftest.py):
    echo   -> mock provider "demo", upstream model "mock-echo"
    relay  -> OpenAI-compatible provider "up" (the fake upstream), "gpt-upstream"
    split  -> v1 (demo/a) and v2 (demo/b), 50/50
    tuned  -> up/gpt-tuned with params temperature=0.3, max_tokens=77
    secret -> exists, but not in alice's allowed_models
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Callable

import openai
import pytest

from conftest import ALICE_MODELS, BOB_TOKEN, UPSTREAM_KEY
from fake_upstream import REPLY_PREFIX, FakeUpstream

SPLIT_MAX_REQUESTS = 200


def unique_prompt(label: str) -> str:
    """A user message that is easy to find again in the upstream's records."""
    return f"{label} {uuid.uuid4().hex[:12]}"


def messages_for(text: str) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": "You are a test."},
        {"role": "user", "content": text},
    ]


def collect_stream(stream) -> tuple[list, str]:
    """Drain a sync chat stream: (all chunks, concatenated delta content)."""
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    return chunks, text


def content_chunks(chunks: list) -> list:
    return [c for c in chunks if c.choices and c.choices[0].delta.content]


def only_request(requests: list, what: str):
    assert len(requests) == 1, f"expected exactly one upstream {what} request, got {requests}"
    return requests[0]


# ---------------------------------------------------------------------------
# Mock provider
# ---------------------------------------------------------------------------


def test_mock_chat_echoes_last_user_message(sdk: openai.OpenAI) -> None:
    prompt = unique_prompt("hello mock")
    completion = sdk.chat.completions.create(
        model="echo",
        messages=[
            {"role": "user", "content": "an earlier question"},
            {"role": "assistant", "content": "an earlier answer"},
            {"role": "user", "content": prompt},
        ],
    )

    assert completion.object == "chat.completion"
    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].message.content == prompt
    assert completion.choices[0].finish_reason == "stop"
    assert completion.model == "mock-echo"
    assert "mock" in (completion.system_fingerprint or "")
    usage = completion.usage
    assert usage is not None
    assert usage.prompt_tokens > 0 and usage.completion_tokens > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def test_mock_stream_without_usage(sdk: openai.OpenAI) -> None:
    prompt = unique_prompt("stream me please, in several pieces")
    stream = sdk.chat.completions.create(model="echo", messages=messages_for(prompt), stream=True)
    chunks, text = collect_stream(stream)

    assert text == prompt
    assert len(content_chunks(chunks)) >= 2, "expected the reply to arrive in several chunks"
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert len({c.id for c in chunks}) == 1, "all chunks of one completion share an id"
    assert any(c.choices and c.choices[0].finish_reason == "stop" for c in chunks)
    assert all(c.usage is None for c in chunks), "usage was not requested"


def test_mock_stream_with_usage(sdk: openai.OpenAI) -> None:
    prompt = unique_prompt("count my tokens while streaming")
    stream = sdk.chat.completions.create(
        model="echo", messages=messages_for(prompt), stream=True,
        stream_options={"include_usage": True},
    )
    chunks, text = collect_stream(stream)

    assert text == prompt
    assert len(content_chunks(chunks)) >= 2
    *body, last = chunks
    assert last.choices == []
    assert last.usage is not None
    assert last.usage.prompt_tokens > 0 and last.usage.completion_tokens > 0
    assert last.usage.total_tokens == last.usage.prompt_tokens + last.usage.completion_tokens
    assert all(c.usage is None for c in body), "only the final chunk carries usage"


def test_async_client_chat_and_stream(make_client: Callable[..., openai.AsyncOpenAI]) -> None:
    plain, streamed = unique_prompt("async plain"), unique_prompt("async streamed reply")
    parallel = [unique_prompt(f"async parallel {i}") for i in range(4)]

    async def scenario() -> tuple[str, str, list[str]]:
        async with make_client(kind=openai.AsyncOpenAI) as client:
            completion = await client.chat.completions.create(model="echo", messages=messages_for(plain))

            stream = await client.chat.completions.create(
                model="echo", messages=messages_for(streamed), stream=True,
            )
            pieces = [c.choices[0].delta.content or "" async for c in stream if c.choices]

            concurrent = await asyncio.gather(*(
                client.chat.completions.create(model="echo", messages=messages_for(p)) for p in parallel
            ))
            return (
                completion.choices[0].message.content,
                "".join(pieces),
                [c.choices[0].message.content for c in concurrent],
            )

    plain_reply, streamed_reply, parallel_replies = asyncio.run(scenario())
    assert plain_reply == plain
    assert streamed_reply == streamed
    assert parallel_replies == parallel


def test_mock_embeddings(sdk: openai.OpenAI) -> None:
    inputs = ["first input", "second input", "third input"]
    result = sdk.embeddings.create(model="echo", input=inputs)  # SDK asks for base64

    assert result.object == "list"
    assert [d.index for d in result.data] == [0, 1, 2]
    dimensions = {len(d.embedding) for d in result.data}
    assert len(dimensions) == 1 and dimensions.pop() > 0
    assert all(isinstance(x, float) for d in result.data for x in d.embedding)
    assert result.usage.prompt_tokens > 0 and result.usage.total_tokens > 0

    again = sdk.embeddings.create(model="echo", input=inputs[0], encoding_format="float")
    assert len(again.data) == 1
    assert again.data[0].embedding == pytest.approx(result.data[0].embedding, rel=1e-6)


def test_models_list_shows_only_allowed_models(sdk: openai.OpenAI) -> None:
    ids = {model.id for model in sdk.models.list()}

    assert ids >= set(ALICE_MODELS)
    assert "secret" not in ids


def test_token_from_env_reference_authenticates(make_client: Callable[..., openai.OpenAI]) -> None:
    with make_client(BOB_TOKEN) as bob:
        assert bob.models.list().object == "list"


# ---------------------------------------------------------------------------
# OpenAI-compatible upstream
# ---------------------------------------------------------------------------


def test_relay_chat_rewrites_model_and_credentials(
    sdk: openai.OpenAI, upstream: FakeUpstream,
) -> None:
    prompt = unique_prompt("relay this")
    completion = sdk.chat.completions.create(
        model="relay", messages=messages_for(prompt), top_p=0.5,
    )

    assert completion.choices[0].message.content == REPLY_PREFIX + prompt
    assert completion.usage is not None and completion.usage.total_tokens > 0

    sent = only_request(upstream.chat_requests_containing(prompt), "chat")
    assert sent.method == "POST"
    assert sent.path == "/v1/chat/completions"
    assert sent.body["model"] == "gpt-upstream"
    assert sent.body["top_p"] == 0.5, "unrelated request fields pass through"
    assert [(m["role"], m["content"]) for m in sent.body["messages"]] == [
        (m["role"], m["content"]) for m in messages_for(prompt)
    ]
    assert sent.header("authorization") == f"Bearer {UPSTREAM_KEY}"
    assert sent.header("x-extra") == "yes"


def test_relay_response_headers(sdk: openai.OpenAI) -> None:
    raw = sdk.chat.completions.with_raw_response.create(
        model="relay", messages=messages_for(unique_prompt("headers")),
    )

    assert raw.headers.get("x-switchyard-version") == "v1"
    assert raw.headers.get("x-switchyard-backend") == "up/gpt-upstream"
    assert raw.headers.get("x-request-id")
    assert raw.parse().choices[0].message.content.startswith(REPLY_PREFIX)


def test_relay_stream_requests_usage_upstream(
    sdk: openai.OpenAI, upstream: FakeUpstream,
) -> None:
    prompt = unique_prompt("relay a stream")
    with sdk.chat.completions.with_streaming_response.create(
        model="relay", messages=messages_for(prompt), stream=True,
    ) as response:
        assert response.headers.get("x-switchyard-backend") == "up/gpt-upstream"
        chunks, text = collect_stream(response.parse())

    assert text == REPLY_PREFIX + prompt
    assert len(content_chunks(chunks)) >= 2
    assert all(c.usage is None for c in chunks), \
        "the client did not ask for usage, so the gateway must not forward the usage chunk"

    sent = only_request(upstream.chat_requests_containing(prompt), "chat")
    assert sent.body["model"] == "gpt-upstream"
    assert sent.body["stream"] is True
    assert sent.body.get("stream_options", {}).get("include_usage") is True
    assert sent.header("authorization") == f"Bearer {UPSTREAM_KEY}"


def test_relay_stream_with_usage(sdk: openai.OpenAI, upstream: FakeUpstream) -> None:
    prompt = unique_prompt("relay a stream with usage")
    stream = sdk.chat.completions.create(
        model="relay", messages=messages_for(prompt), stream=True,
        stream_options={"include_usage": True},
    )
    chunks, text = collect_stream(stream)

    assert text == REPLY_PREFIX + prompt
    last = chunks[-1]
    assert last.choices == []
    assert last.usage is not None and last.usage.total_tokens > 0

    sent = only_request(upstream.chat_requests_containing(prompt), "chat")
    assert sent.body["stream_options"]["include_usage"] is True


def test_version_params_override_request(sdk: openai.OpenAI, upstream: FakeUpstream) -> None:
    prompt = unique_prompt("tuned")
    completion = sdk.chat.completions.create(
        model="tuned", messages=messages_for(prompt), temperature=0.9, max_tokens=5,
    )
    assert completion.choices[0].message.content == REPLY_PREFIX + prompt

    sent = only_request(upstream.chat_requests_containing(prompt), "chat")
    assert sent.body["model"] == "gpt-tuned"
    assert sent.body["temperature"] == pytest.approx(0.3)
    assert sent.body["max_tokens"] == 77


def test_relay_embeddings(sdk: openai.OpenAI, upstream: FakeUpstream) -> None:
    marker = unique_prompt("embed")
    inputs = [f"{marker} one", f"{marker} two"]
    result = sdk.embeddings.create(model="relay", input=inputs, encoding_format="float")

    assert len(result.data) == 2
    assert all(len(d.embedding) > 0 for d in result.data)
    assert result.data[0].embedding != result.data[1].embedding
    assert result.usage.total_tokens > 0

    sent = only_request(upstream.embedding_requests_containing(marker), "embeddings")
    assert sent.path == "/v1/embeddings"
    assert sent.body["model"] == "gpt-upstream"
    assert sent.body["input"] == inputs
    assert sent.header("authorization") == f"Bearer {UPSTREAM_KEY}"

    decoded = sdk.embeddings.create(model="relay", input=inputs)  # base64 on the wire
    assert len(decoded.data) == len(result.data)
    for from_base64, from_floats in zip(decoded.data, result.data):
        assert from_base64.embedding == pytest.approx(from_floats.embedding, rel=1e-6)


# ---------------------------------------------------------------------------
# Errors the SDK maps to exception types
# ---------------------------------------------------------------------------


def test_wrong_token_is_authentication_error(make_client: Callable[..., openai.OpenAI]) -> None:
    with make_client("sk-not-a-real-token") as stranger:
        with pytest.raises(openai.AuthenticationError) as caught:
            stranger.chat.completions.create(model="echo", messages=messages_for("hi"))
    assert caught.value.status_code == 401


def test_model_not_allowed_is_permission_denied(sdk: openai.OpenAI) -> None:
    with pytest.raises(openai.PermissionDeniedError) as caught:
        sdk.chat.completions.create(model="secret", messages=messages_for("hi"))
    assert caught.value.status_code == 403


def test_unknown_model_is_not_found(sdk: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        sdk.chat.completions.create(model="no-such-model", messages=messages_for("hi"))
    assert caught.value.status_code == 404
    assert caught.value.code == "model_not_found"


# ---------------------------------------------------------------------------
# Versions and request ids
# ---------------------------------------------------------------------------


def test_weighted_split_serves_both_versions(sdk: openai.OpenAI) -> None:
    expected = {"v1": ("demo/a", "a"), "v2": ("demo/b", "b")}
    seen: dict[str, int] = {}
    for index in range(SPLIT_MAX_REQUESTS):
        # The split is sticky per end user (the OpenAI `user` field): vary it to see both versions.
        raw = sdk.chat.completions.with_raw_response.create(
            model="split", messages=messages_for("which version?"), user=f"end-user-{index}",
        )
        version = raw.headers.get("x-switchyard-version")
        assert version in expected, f"unexpected x-switchyard-version {version!r}"
        backend, upstream_model = expected[version]
        assert raw.headers.get("x-switchyard-backend") == backend
        assert raw.parse().model == upstream_model
        seen[version] = seen.get(version, 0) + 1
        if len(seen) == len(expected):
            break

    assert set(seen) == set(expected), f"after {sum(seen.values())} requests only saw {seen}"


def test_the_same_end_user_stays_on_one_version(sdk: openai.OpenAI) -> None:
    versions = {
        sdk.chat.completions.with_raw_response.create(
            model="split", messages=messages_for("sticky?"), user="the-same-end-user",
        ).headers.get("x-switchyard-version")
        for _ in range(20)
    }
    assert len(versions) == 1, f"one end user saw several versions: {versions}"


def test_client_request_id_is_echoed(sdk: openai.OpenAI) -> None:
    raw = sdk.chat.completions.with_raw_response.create(
        model="echo", messages=messages_for("trace me"), extra_headers={"X-Request-ID": "abc-123"},
    )
    assert raw.headers.get("x-request-id") == "abc-123"
    assert raw.headers.get("x-switchyard-version") == "v1"
    assert raw.headers.get("x-switchyard-backend") == "demo/mock-echo"


def test_request_id_is_generated_when_absent(sdk: openai.OpenAI) -> None:
    ids = [
        sdk.chat.completions.with_raw_response.create(
            model="echo", messages=messages_for("no id"),
        ).headers.get("x-request-id")
        for _ in range(2)
    ]
    assert all(ids), "the gateway assigns a request id"
    assert ids[0] != ids[1]
