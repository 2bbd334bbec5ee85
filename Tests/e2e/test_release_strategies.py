"""End-to-end tests of release strategies, SSE keep-alives and trace context.

This module runs its own upstreams and its own gateway on the seed below; it
shares nothing with the other modules.

Upstreams (all on 127.0.0.1, conftest's fixtures):
    fault    -> FaultUpstream (fault_upstream.py, its own FaultState): ok-* answer
                "from <model>", fail500 always fails with HTTP 500, late-head waits
                LATE_HEAD_SECONDS before its response head
    upstream -> FakeUpstream (fake_upstream.py), provider "fake": records every
                request's headers

Models:
    canary      release_strategy = "health": v1 (default, 50) on fault/ok-canary,
                v2 (50) on fault/fail500 only                              test 1
    rr          release_strategy = "round_robin": v1, v2 on the mock       test 2
    mock-slow   mock provider, ttft 700 ms, 3 chunks: head at once, quiet
                before the first chunk                                    test 3
    mock-gaps   mock provider, ttft 500 ms, 3 chunks over 1200 ms: quiet
                before the first chunk and between chunks                  test 3
    late-head   fault/late-head: quiet before the response head            test 3
    traced      the fake upstream, format "openai"                         test 4

`stream_keepalive_seconds = 0.2`, so both quiet phases of test 3 last several
keep-alive periods. Every loop is bounded in requests and in time.
"""

from __future__ import annotations

import json
import re
import secrets
import time
import uuid
from typing import Any

import httpx
import openai
import pytest

from conftest import GatewaySeed, chat, error_of
from fake_upstream import FakeUpstream
from fault_upstream import LATE_HEAD_SECONDS, FaultUpstream, reply_for

ADMIN_TOKEN = "e2e-strategies-admin"
USER_TOKEN = "sk-strategies-e2e-user"

BREAKER_FAILURE_THRESHOLD = 3
KEEPALIVE_SECONDS = 0.2
MOCK_TTFT_MS = 700
MOCK_CHUNKS = 3
GAPS_TTFT_MS = 500
GAPS_LATENCY_MS = 1200  # spread over the chunks: 400 ms between them, two keep-alive periods
MAX_SSE_BLOCKS = 500

VERSION_HEADER = "x-switchyard-version"
KEEPALIVE_BLOCK = ": keep-alive"
TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")

SEED_TEMPLATE = """\
[server]
admin_token = "{admin_token}"

[settings]
max_retries = 0
health_check_interval_seconds = 0
circuit_breaker_failure_threshold = {breaker_threshold}
stream_keepalive_seconds = {keepalive}

[providers.fault]
format = "openai"
base_url = "{fault_url}"

[providers.fake]
format = "openai"
base_url = "{fake_url}"

[providers.mock]
format = "mock"

[models.canary]
release_strategy = "health"
[models.canary.versions.v1]
weight = 50
default = true
backends = [ {{ provider = "fault", model = "ok-canary" }} ]
[models.canary.versions.v2]
weight = 50
backends = [ {{ provider = "fault", model = "fail500" }} ]

[models.rr]
release_strategy = "round_robin"
[models.rr.versions.v1]
weight = 50
default = true
backends = [ {{ provider = "mock", model = "rr-v1" }} ]
[models.rr.versions.v2]
weight = 50
backends = [ {{ provider = "mock", model = "rr-v2" }} ]

[models.mock-slow]
backends = [ {{ provider = "mock", model = "mock-slow", mock = {{ ttft_ms = {ttft_ms}, chunks = {chunks} }} }} ]

[models.mock-gaps]
backends = [ {{ provider = "mock", model = "mock-gaps", mock = {{ ttft_ms = {gaps_ttft_ms}, latency_ms = {gaps_latency_ms}, chunks = {chunks} }} }} ]

[models.late-head]
backends = [ {{ provider = "fault", model = "late-head" }} ]

[models.traced]
backends = [ {{ provider = "fake", model = "gpt-upstream" }} ]

[users.tester]
token = "{user_token}"
"""


# ---------------------------------------------------------------------------
# Fixtures: the seed on conftest's fault and fake upstreams
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gateway_seed(fault: FaultUpstream, upstream: FakeUpstream) -> GatewaySeed:
    seed = SEED_TEMPLATE.format(
        admin_token=ADMIN_TOKEN, breaker_threshold=BREAKER_FAILURE_THRESHOLD, keepalive=KEEPALIVE_SECONDS,
        fault_url=fault.base_url, fake_url=upstream.base_url, ttft_ms=MOCK_TTFT_MS, chunks=MOCK_CHUNKS,
        gaps_ttft_ms=GAPS_TTFT_MS, gaps_latency_ms=GAPS_LATENCY_MS,
        user_token=USER_TOKEN,
    )
    return GatewaySeed(seed, ADMIN_TOKEN, USER_TOKEN)


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------




def decide(admin: httpx.Client, model: str, user: str) -> dict[str, Any]:
    response = admin.post("/api/routing/decide", json={"model": model, "user": user})
    assert response.status_code == 200, response.text
    return response.json()


def parse_traceparent(value: str | None) -> tuple[str, str, str]:
    assert value is not None, "no traceparent header"
    match = TRACEPARENT.match(value)
    assert match, f"malformed traceparent {value!r}"
    trace_id, parent_id, flags = match.groups()
    assert trace_id != "0" * 32 and parent_id != "0" * 16, f"all-zero id in traceparent {value!r}"
    return trace_id, parent_id, flags


# ---------------------------------------------------------------------------
# 1. release_strategy = "health": the failing version stops getting traffic
# ---------------------------------------------------------------------------


def test_health_strategy_moves_traffic_off_a_failing_version(user_http: httpx.Client, admin: httpx.Client,
                                                             fault: FaultUpstream) -> None:
    before = decide(admin, "canary", "probe")
    assert before["release_strategy"] == "health", before
    assert "health" in before["reason"].lower(), before

    served: list[tuple[str, str | None, int]] = []  # (end user, version, status)
    for i in range(40):
        response = chat(user_http, "canary", f"u-{i}")
        served.append((f"u-{i}", response.headers.get(VERSION_HEADER), response.status_code))

    v2_users = [user for user, version, _ in served if version == "v2"]
    assert 1 <= len(v2_users) <= BREAKER_FAILURE_THRESHOLD, \
        f"v2 (always failing) should get at most {BREAKER_FAILURE_THRESHOLD} requests, got {len(v2_users)}: {served}"
    assert fault.hits("fail500") == len(v2_users), (fault.hits("fail500"), served)
    for user, version, status in served:
        if version == "v2":
            assert status == 500, (user, version, status)
        else:
            assert (version, status) == ("v1", 200), f"{user}: expected v1 with 200, got {version} {status}"
    last_v2 = max(i for i, (_, version, _) in enumerate(served) if version == "v2")
    assert len(served) - last_v2 - 1 >= 20, f"v2 kept getting traffic late: {served}"

    # The end users whose bucket picked v2 are served by v1 now.
    for user in v2_users:
        response = chat(user_http, "canary", user)
        assert response.status_code == 200, response.text
        assert response.headers.get(VERSION_HEADER) == "v1", (user, dict(response.headers))
        decision = decide(admin, "canary", user)
        assert decision["release_strategy"] == "health", decision
        assert decision["version"] == "v1", decision
        assert isinstance(decision["reason"], str) and "health" in decision["reason"].lower(), decision
    assert fault.hits("fail500") == len(v2_users)

    changed = admin.put("/api/models/canary/release", json={"strategy": "round_robin"})
    assert changed.status_code == 200, changed.text
    assert changed.json()["strategy"] == "round_robin", changed.json()
    shown = admin.get("/api/models/canary/release")
    assert shown.status_code == 200, shown.text
    assert shown.json()["strategy"] == "round_robin", shown.json()
    assert decide(admin, "canary", "probe")["release_strategy"] == "round_robin"

    invalid = admin.put("/api/models/canary/release", json={"strategy": "fastest"})
    assert invalid.status_code == 422, invalid.text
    error = error_of(invalid)
    assert error.get("field") == "strategy", error
    assert admin.get("/api/models/canary/release").json()["strategy"] == "round_robin"


# ---------------------------------------------------------------------------
# 2. release_strategy = "round_robin": one end user alternates versions
# ---------------------------------------------------------------------------


def test_round_robin_alternates_versions_for_the_same_user(user_http: httpx.Client, admin: httpx.Client) -> None:
    assert decide(admin, "rr", "same-user")["release_strategy"] == "round_robin"
    versions = []
    for _ in range(8):
        response = chat(user_http, "rr", "same-user")
        assert response.status_code == 200, response.text
        versions.append(response.headers.get(VERSION_HEADER))
    assert set(versions) == {"v1", "v2"}, versions
    for previous, current in zip(versions, versions[1:]):
        assert previous != current, f"consecutive requests of one user should alternate: {versions}"


# ---------------------------------------------------------------------------
# 3. SSE keep-alive: before the first event, never inside or after one
# ---------------------------------------------------------------------------

STREAM_CASES = {
    # model: (prompt, expected content, keep-alives expected between events)
    "mock-slow": ("keep the line open please", "keep the line open please", False),
    "mock-gaps": ("quiet between the chunks", "quiet between the chunks", True),
    "late-head": ("anything", reply_for("late-head"), False),
}


def sse_blocks(raw: str) -> list[str]:
    """The blocks of an SSE body (separated by blank lines), without the separators."""
    text = raw.replace("\r\n", "\n")
    assert text.endswith("\n\n"), f"stream does not end with a complete event: {text[-200:]!r}"
    blocks = text[:-2].split("\n\n")
    assert len(blocks) <= MAX_SSE_BLOCKS, "runaway stream"
    return blocks


@pytest.mark.parametrize("model", list(STREAM_CASES))
def test_keepalive_comments_only_between_events(user_http: httpx.Client, model: str) -> None:
    prompt, expected, between = STREAM_CASES[model]
    started = time.monotonic()
    with user_http.stream("POST", "/v1/chat/completions", json={
        "model": model, "messages": [{"role": "user", "content": prompt}], "stream": True,
    }) as response:
        head_after = time.monotonic() - started
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream"), dict(response.headers)
        raw = b"".join(response.iter_raw()).decode()

    if model == "late-head":
        assert head_after < LATE_HEAD_SECONDS - 0.1, \
            f"the response head should come after ~{KEEPALIVE_SECONDS}s, not after the upstream's ({head_after:.2f}s)"

    blocks = sse_blocks(raw)
    for block in blocks:
        assert block == KEEPALIVE_BLOCK or (block.startswith("data: ") and "\n" not in block), \
            f"a keep-alive inside an event, or a malformed block: {block!r}\nwhole stream: {raw!r}"
    data = [i for i, block in enumerate(blocks) if block.startswith("data: ")]
    assert data, raw
    assert blocks[:data[0]] and all(block == KEEPALIVE_BLOCK for block in blocks[:data[0]]), \
        f"expected ': keep-alive' before the first event: {raw!r}"
    assert blocks[-1] == "data: [DONE]", f"the stream should end with data: [DONE], nothing after it: {raw!r}"
    assert blocks.count("data: [DONE]") == 1, raw
    if between:
        assert any(block == KEEPALIVE_BLOCK for block in blocks[data[0]:]), \
            f"expected ': keep-alive' between the slow chunks too: {raw!r}"

    content = ""
    for index in data[:-1]:
        payload = json.loads(blocks[index][len("data: "):])
        assert "error" not in payload, payload
        for choice in payload.get("choices") or []:
            content += (choice.get("delta") or {}).get("content") or ""
    assert content == expected


@pytest.mark.parametrize("model", list(STREAM_CASES))
def test_openai_sdk_streams_through_keepalives(sdk: openai.OpenAI, model: str) -> None:
    prompt, expected, _ = STREAM_CASES[model]
    stream = sdk.chat.completions.create(
        model=model, messages=[{"role": "user", "content": prompt}], stream=True)
    content = ""
    chunks = 0
    for chunk in stream:
        chunks += 1
        assert chunks <= MAX_SSE_BLOCKS, "runaway stream"
        for choice in chunk.choices:
            content += choice.delta.content or ""
    assert content == expected


# ---------------------------------------------------------------------------
# 4. Trace context end to end
# ---------------------------------------------------------------------------


def test_traceparent_goes_upstream_as_a_child_and_comes_back(sdk: openai.OpenAI, upstream: FakeUpstream) -> None:
    trace_id, parent_id = secrets.token_hex(16), secrets.token_hex(8)
    marker = f"trace-{uuid.uuid4().hex}"
    raw = sdk.chat.completions.with_raw_response.create(
        model="traced", messages=[{"role": "user", "content": marker}],
        extra_headers={"traceparent": f"00-{trace_id}-{parent_id}-01"})
    completion = raw.parse()
    assert completion.choices[0].message.content == f"upstream says: {marker}"

    sent = upstream.chat_requests_containing(marker)
    assert len(sent) == 1, sent
    upstream_trace, upstream_parent, upstream_flags = parse_traceparent(sent[0].header("traceparent"))
    assert upstream_trace == trace_id, sent[0].headers
    assert upstream_parent != parent_id, "the upstream should get a child span, not the client's parent id"
    assert upstream_flags == "01", sent[0].headers

    response_trace, _, _ = parse_traceparent(raw.headers.get("traceparent"))
    assert response_trace == trace_id, dict(raw.headers)


def test_a_request_without_traceparent_starts_a_trace(sdk: openai.OpenAI, upstream: FakeUpstream) -> None:
    marker = f"trace-{uuid.uuid4().hex}"
    raw = sdk.chat.completions.with_raw_response.create(
        model="traced", messages=[{"role": "user", "content": marker}])
    raw.parse()
    response_trace, _, _ = parse_traceparent(raw.headers.get("traceparent"))

    sent = upstream.chat_requests_containing(marker)
    assert len(sent) == 1, sent
    upstream_trace, _, _ = parse_traceparent(sent[0].header("traceparent"))
    assert upstream_trace == response_trace, (sent[0].headers, dict(raw.headers))
