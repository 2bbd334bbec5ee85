# Over 400 lines: failover, breakers and sessions share this module's fault-injecting upstream and gateway.
"""End-to-end tests of routing and backend health: failover, circuit breaker,
mid-stream failures, routing filters, sticky sessions and the routing admin API.

This module runs its own fault-injecting upstream (fault_upstream.py) and its
own gateway on the seed below; it shares nothing with test_openai_sdk.py.

Providers (all on 127.0.0.1):
    up, up2  -> the fault upstream (up2 has region "eu")
    slowp    -> the fault upstream with a 0.5 s timeout
    dead     -> a port nothing listens on (connection refused)

The fault upstream's behaviour is chosen by the upstream model name: ok-* answer
"from <model>", fail500 / fail429 fail, slow answers after 3 s, stall-stream and
drop-stream break off after two content chunks, flaky fails while
`fault.state.flaky_down` is true.

Some backends are shared by several tests (up/fail500, for instance): the tests
only assert what holds whatever state earlier tests left a backend's circuit in,
and the models whose health a test depends on (breaker, sticky) are used by that
test alone.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import httpx
import openai
import pytest

from conftest import GatewaySeed, error_of, free_port, sse_data
from fault_upstream import PARTIAL_CHUNKS, RETRY_AFTER_SECONDS, STALL_SECONDS, FaultUpstream, reply_for

ADMIN_TOKEN = "e2e-admin-token"
ALICE_TOKEN = "sk-alice-e2e-failover"  # tags = ["team-a"]
BOB_TOKEN = "sk-bob-e2e-failover"  # no tags

BREAKER_FAILURE_THRESHOLD = 3
BREAKER_OPEN_SECONDS = 1.0
ALL_FAILED_ANSWER_SECONDS = 10

BACKEND_HEADER = "x-switchyard-backend"
VERSION_HEADER = "x-switchyard-version"
CIRCUIT_STATES = {"closed", "open", "half_open"}

SEED_TEMPLATE = """\
[server]
admin_token = "{admin_token}"

[settings]
max_retries = 2
circuit_breaker_failure_threshold = {breaker_threshold}
circuit_breaker_error_rate_threshold = 0.5
circuit_breaker_window = 20
circuit_breaker_timeout_seconds = {breaker_open_seconds}
health_check_interval_seconds = 0
idle_timeout_seconds = 1

[providers.up]
format = "openai"
base_url = "{up_url}"

[providers.up2]
format = "openai"
base_url = "{up_url}"
region = "eu"

[providers.dead]
format = "openai"
base_url = "{dead_url}"

[providers.slowp]
format = "openai"
base_url = "{up_url}"
timeout_seconds = 0.5

[models.refused-then-ok]
strategy = "failover"
backends = [ {{ provider = "dead", model = "x", priority = 1 }}, {{ provider = "up", model = "ok-a", priority = 2 }} ]

[models.500-then-ok]
strategy = "failover"
backends = [ {{ provider = "up", model = "fail500", priority = 1 }}, {{ provider = "up", model = "ok-b", priority = 2 }} ]

[models.429-then-ok]
strategy = "failover"
backends = [ {{ provider = "up", model = "fail429", priority = 1 }}, {{ provider = "up", model = "ok-c", priority = 2 }} ]

[models.slow-then-ok]
strategy = "failover"
backends = [ {{ provider = "slowp", model = "slow", priority = 1 }}, {{ provider = "up", model = "ok-d", priority = 2 }} ]

[models.all-bad]
strategy = "failover"
backends = [ {{ provider = "up", model = "fail500", priority = 1 }}, {{ provider = "dead", model = "y", priority = 2 }} ]

[models.stall]
backends = [ {{ provider = "slowp", model = "stall-stream" }} ]

[models.drop]
backends = [ {{ provider = "up", model = "drop-stream" }} ]

[models.breaker]
strategy = "failover"
backends = [ {{ provider = "up", model = "flaky", priority = 1 }}, {{ provider = "up", model = "ok-e", priority = 2 }} ]

[models.tagged]
backends = [ {{ provider = "up", model = "ok-team", tags = ["team-a"] }}, {{ provider = "up", model = "ok-public" }} ]

[models.regional]
strategy = "weighted_random"
backends = [ {{ provider = "up", model = "ok-us" }}, {{ provider = "up2", model = "ok-eu" }} ]

[models.sticky]
strategy = "random"
backends = [ {{ provider = "up", model = "ok-s1" }}, {{ provider = "up", model = "ok-s2" }}, {{ provider = "up", model = "ok-s3" }} ]

[users.alice]
token = "{alice_token}"
tags = ["team-a"]

[users.bob]
token = "{bob_token}"
"""


def render_seed(up_url: str, dead_url: str) -> str:
    return SEED_TEMPLATE.format(
        admin_token=ADMIN_TOKEN,
        breaker_threshold=BREAKER_FAILURE_THRESHOLD,
        breaker_open_seconds=int(BREAKER_OPEN_SECONDS),
        up_url=up_url,
        dead_url=dead_url,
        alice_token=ALICE_TOKEN,
        bob_token=BOB_TOKEN,
    )


# ---------------------------------------------------------------------------
# Fixtures: the seed on conftest's fault upstream and a closed port
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gateway_seed(fault: FaultUpstream) -> GatewaySeed:
    dead_url = f"http://127.0.0.1:{free_port()}/v1"
    return GatewaySeed(render_seed(fault.base_url, dead_url), ADMIN_TOKEN, ALICE_TOKEN)


@pytest.fixture(scope="module")
def alice(sdk: openai.OpenAI) -> openai.OpenAI:
    """SDK client of alice (tag team-a), the seed's user."""
    return sdk


@pytest.fixture(scope="module")
def bob(make_client: Callable[..., openai.OpenAI]) -> Iterator[openai.OpenAI]:
    """SDK client of bob (no tags)."""
    with make_client(BOB_TOKEN) as client:
        yield client


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


def messages_for(text: str = "hello") -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass(frozen=True)
class Served:
    backend: str | None  # x-switchyard-backend
    version: str | None  # x-switchyard-version
    content: str


def chat(client: openai.OpenAI, model: str, headers: dict[str, str] | None = None) -> Served:
    """One non-streamed completion; which backend served it and what it said."""
    raw = client.chat.completions.with_raw_response.create(
        model=model, messages=messages_for(), extra_headers=headers or {},
    )
    completion = raw.parse()
    return Served(raw.headers.get(BACKEND_HEADER), raw.headers.get(VERSION_HEADER),
                  completion.choices[0].message.content or "")


def chat_stream(client: openai.OpenAI, model: str, headers: dict[str, str] | None = None) -> Served:
    """One streamed completion, read to the end with the SDK."""
    with client.chat.completions.with_streaming_response.create(
        model=model, messages=messages_for(), stream=True, extra_headers=headers or {},
    ) as response:
        text = "".join(
            chunk.choices[0].delta.content or ""
            for chunk in response.parse()
            if chunk.choices
        )
        return Served(response.headers.get(BACKEND_HEADER), response.headers.get(VERSION_HEADER), text)


def backends_served(client: openai.OpenAI, model: str, count: int,
                    headers: dict[str, str] | None = None) -> list[str | None]:
    return [chat(client, model, headers).backend for _ in range(count)]


def delta_text(payloads: list[str]) -> str:
    """Concatenated delta content of the chat.completion.chunk payloads."""
    text = ""
    for payload in payloads:
        try:
            data = json.loads(payload)
        except ValueError:
            continue
        choices = data.get("choices") if isinstance(data, dict) else None
        for choice in choices or []:
            text += (choice.get("delta") or {}).get("content") or ""
    return text


def health_items(admin: httpx.Client) -> list[dict[str, Any]]:
    response = admin.get("/api/health/backends")
    assert response.status_code == 200, f"/api/health/backends: {response.status_code} {response.text[:300]}"
    body = response.json()
    assert isinstance(body.get("backends"), list), f"expected a 'backends' list, got {body}"
    return body["backends"]


def circuit_state(admin: httpx.Client, model: str, backend: str) -> str:
    matches = [i for i in health_items(admin) if i.get("model") == model and i.get("backend") == backend]
    assert matches, f"{backend} of model {model} missing from /api/health/backends"
    return matches[0]["state"]


# ---------------------------------------------------------------------------
# 2. Every backend fails -> an error, never a hang
#    (before the failover tests: all-bad shares up/fail500 with 500-then-ok, so
#    up/fail500's circuit is still closed here and the gateway really tries it)
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_all_backends_failing_is_an_error(http: httpx.Client, stream: bool) -> None:
    started = time.monotonic()
    response = http.post(
        "/v1/chat/completions", headers=bearer(ALICE_TOKEN),
        json={"model": "all-bad", "messages": messages_for(), "stream": stream},
    )
    elapsed = time.monotonic() - started

    assert response.status_code in (500, 502), \
        f"expected 502 (or 500) when every backend fails, got {response.status_code}: {response.text[:300]}"
    error = error_of(response)
    assert error.get("type"), f"error.type missing: {error}"
    assert elapsed < ALL_FAILED_ANSWER_SECONDS, f"took {elapsed:.1f}s"


# ---------------------------------------------------------------------------
# 1. Failover before the first byte
# ---------------------------------------------------------------------------

FAILOVER_CASES = [
    # (model, failing upstream model or None for the refused provider, serving backend)
    ("refused-then-ok", None, "up/ok-a"),
    ("500-then-ok", "fail500", "up/ok-b"),
    ("429-then-ok", "fail429", "up/ok-c"),
    ("slow-then-ok", "slow", "up/ok-d"),
]
FAILOVER_IDS = [case[0] for case in FAILOVER_CASES]


@pytest.mark.parametrize("model, failing, backend", FAILOVER_CASES, ids=FAILOVER_IDS)
def test_failover_before_first_byte(alice: openai.OpenAI, fault: FaultUpstream,
                                    model: str, failing: str | None, backend: str) -> None:
    served = chat(alice, model)

    assert served.backend == backend, f"{model}: served by {served.backend!r}, expected {backend!r}"
    assert served.content == reply_for(backend.split("/", 1)[1])
    if failing is not None:
        # Its circuit may be open or cooling down by now, but the priority-1
        # backend must have been tried at least once before failing over.
        assert fault.hits(failing) > 0, f"{model}: the priority-1 backend {failing} was never tried"


@pytest.mark.parametrize("model, failing, backend", FAILOVER_CASES, ids=FAILOVER_IDS)
def test_failover_before_first_byte_stream(alice: openai.OpenAI, model: str,
                                           failing: str | None, backend: str) -> None:
    served = chat_stream(alice, model)

    assert served.backend == backend, f"{model}: stream served by {served.backend!r}, expected {backend!r}"
    assert served.content == reply_for(backend.split("/", 1)[1]), \
        f"{model}: the SDK read {served.content!r} from the stream"


def test_retry_after_cools_the_429_backend_down(alice: openai.OpenAI, fault: FaultUpstream) -> None:
    # Let a cooldown (or open circuit) left by the tests above expire first.
    time.sleep(RETRY_AFTER_SECONDS + 0.5)

    before = fault.hits("fail429")
    started = time.monotonic()
    first = chat(alice, "429-then-ok")
    assert first.backend == "up/ok-c"
    after_first = fault.hits("fail429")
    assert after_first == before + 1, \
        f"the first request should try fail429 once (hits {before} -> {after_first})"

    second = chat(alice, "429-then-ok")
    elapsed = time.monotonic() - started
    assert elapsed < RETRY_AFTER_SECONDS, f"too slow ({elapsed:.1f}s) to test the Retry-After window"
    assert second.backend == "up/ok-c"
    assert fault.hits("fail429") == after_first, \
        f"fail429 answered Retry-After: {RETRY_AFTER_SECONDS}, yet was tried again {elapsed:.2f}s later"


# ---------------------------------------------------------------------------
# 3. Streams cut after the first byte
# ---------------------------------------------------------------------------

CUT_STREAM_MODELS = ["drop", "stall"]
# The upstream stalls for STALL_SECONDS; the gateway must give up well before that
# (idle timeout 1 s, provider timeout 0.5 s).
CUT_STREAM_DEADLINE_SECONDS = STALL_SECONDS - 0.5


@pytest.mark.parametrize("model", CUT_STREAM_MODELS)
def test_cut_stream_ends_with_error_event(http: httpx.Client, model: str) -> None:
    started = time.monotonic()
    with http.stream(
        "POST", "/v1/chat/completions", headers=bearer(ALICE_TOKEN),
        json={"model": model, "messages": messages_for(), "stream": True},
    ) as response:
        assert response.status_code == 200, \
            f"the upstream had started streaming, so the client sees 200; got {response.status_code}"
        payloads = sse_data(response)
    elapsed = time.monotonic() - started

    assert payloads, "no SSE events at all"
    assert "[DONE]" not in payloads, f"a cut stream must not end with [DONE]: {payloads}"
    assert delta_text(payloads[:-1]) == "".join(PARTIAL_CHUNKS), \
        f"the chunks sent before the failure should reach the client: {payloads}"
    last = json.loads(payloads[-1])
    assert isinstance(last, dict) and isinstance(last.get("error"), dict), \
        f"the last event should be {{'error': {{...}}}}, got {payloads[-1]}"
    assert last["error"].get("message"), f"error event without a message: {last}"
    assert elapsed < CUT_STREAM_DEADLINE_SECONDS, \
        f"{model}: the stream took {elapsed:.1f}s to end; the gateway should cut it on its own timeouts"


@pytest.mark.parametrize("model", CUT_STREAM_MODELS)
def test_cut_stream_raises_in_sdk(alice: openai.OpenAI, model: str) -> None:
    received: list[str] = []
    started = time.monotonic()
    with pytest.raises(openai.APIError) as caught:
        stream = alice.chat.completions.create(model=model, messages=messages_for(), stream=True)
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                received.append(chunk.choices[0].delta.content)
    elapsed = time.monotonic() - started

    error = caught.value
    assert not isinstance(error, openai.APIStatusError), \
        f"the stream had started, so it should fail in-stream, not with HTTP {getattr(error, 'status_code', '?')}"
    assert not isinstance(error, openai.APIConnectionError), \
        f"the gateway should send an error event, not break the connection ({type(error).__name__}: {error})"
    assert "".join(received) == "".join(PARTIAL_CHUNKS), f"chunks before the error: {received}"
    assert elapsed < CUT_STREAM_DEADLINE_SECONDS, f"{model}: took {elapsed:.1f}s"


# ---------------------------------------------------------------------------
# 4. Circuit breaker (model "breaker" is used by this test and the health test only)
# ---------------------------------------------------------------------------


def test_circuit_breaker_opens_and_recovers(alice: openai.OpenAI, fault: FaultUpstream,
                                            admin: httpx.Client) -> None:
    assert chat(alice, "breaker").backend == "up/flaky", "while healthy, priority 1 (flaky) serves"

    fault.state.flaky_down = True
    try:
        before = fault.hits("flaky")
        started = time.monotonic()
        outage = [chat(alice, "breaker") for _ in range(6)]
        elapsed = time.monotonic() - started
        flaky_failures = fault.hits("flaky") - before

        assert [s.backend for s in outage] == ["up/ok-e"] * 6, \
            f"every request should fail over to ok-e: {[s.backend for s in outage]}"
        assert all(s.content == reply_for("ok-e") for s in outage)
        # A half-open probe per elapsed open period is allowed on a slow machine.
        allowed = BREAKER_FAILURE_THRESHOLD + int(elapsed // BREAKER_OPEN_SECONDS)
        assert 1 <= flaky_failures <= min(allowed, 5), (
            f"flaky was tried {flaky_failures} times in 6 requests ({elapsed:.2f}s); its circuit "
            f"should open after at most {BREAKER_FAILURE_THRESHOLD} consecutive failures"
        )
        assert circuit_state(admin, "breaker", "up/flaky") in {"open", "half_open"}
    finally:
        fault.state.flaky_down = False

    time.sleep(BREAKER_OPEN_SECONDS + 0.5)
    before_probe = fault.hits("flaky")
    recovery: list[str | None] = []
    for _ in range(5):
        recovery.append(chat(alice, "breaker").backend)
        if recovery[-1] == "up/flaky":
            break
    assert recovery[-1] == "up/flaky", f"flaky should be probed and serve again; got {recovery}"
    assert fault.hits("flaky") > before_probe, "the half-open probe never reached flaky"
    assert circuit_state(admin, "breaker", "up/flaky") == "closed", \
        "a successful half-open probe closes the circuit"


# ---------------------------------------------------------------------------
# 5. Admin API
# ---------------------------------------------------------------------------


def test_health_backends_lists_each_backend(alice: openai.OpenAI, admin: httpx.Client) -> None:
    chat(alice, "breaker")  # make sure the model has seen traffic

    items = health_items(admin)
    for item in items:
        for key in ("model", "version", "backend", "state"):
            assert key in item, f"health item without {key!r}: {item}"
        assert item["state"] in CIRCUIT_STATES, f"unknown circuit state in {item}"
    assert any(i["model"] == "breaker" and i["backend"] == "up/flaky" for i in items), \
        f"up/flaky of model breaker missing from {items}"


def test_health_backends_requires_admin_token(http: httpx.Client) -> None:
    response = http.get("/api/health/backends")
    assert response.status_code == 401, f"{response.status_code} {response.text[:200]}"


def test_decide_explains_the_choice(admin: httpx.Client) -> None:
    response = admin.post("/api/routing/decide", json={"model": "refused-then-ok"})
    assert response.status_code == 200, f"{response.status_code} {response.text[:300]}"
    decision = response.json()

    assert decision.get("strategy") == "failover", decision
    assert isinstance(decision.get("version"), str) and decision["version"], decision
    # dead/x may or may not be behind an open circuit after the failover tests.
    assert decision.get("backend") in {"dead/x", "up/ok-a"}, decision
    candidates = decision.get("candidates")
    assert isinstance(candidates, list), decision
    for candidate in candidates:
        assert isinstance(candidate.get("backend"), str), f"candidate without backend: {candidate}"
        assert isinstance(candidate.get("eligible"), bool), f"candidate without eligible flag: {candidate}"
        assert isinstance(candidate.get("reason"), str), f"candidate without reason: {candidate}"
    assert {c["backend"] for c in candidates} == {"dead/x", "up/ok-a"}, candidates


def test_decide_unknown_model_is_not_found(admin: httpx.Client) -> None:
    response = admin.post("/api/routing/decide", json={"model": "no-such-model"})
    assert response.status_code == 404, f"{response.status_code} {response.text[:300]}"
    error_of(response)


@pytest.mark.parametrize("headers", [{}, bearer(ALICE_TOKEN), bearer("not-the-admin-token")],
                         ids=["no-token", "user-token", "wrong-token"])
def test_decide_requires_admin_token(http: httpx.Client, headers: dict[str, str]) -> None:
    response = http.post("/api/routing/decide", json={"model": "refused-then-ok"}, headers=headers)
    allowed = {401} if not headers or "not-the-admin" in headers["Authorization"] else {401, 403}
    assert response.status_code in allowed, f"{response.status_code} {response.text[:200]}"


def test_decide_honours_excluded_providers(admin: httpx.Client) -> None:
    for _ in range(5):  # weighted_random: ask a few times
        response = admin.post(
            "/api/routing/decide", json={"model": "regional", "exclude_providers": ["up"]},
        )
        assert response.status_code == 200, f"{response.status_code} {response.text[:300]}"
        assert response.json().get("backend") == "up2/ok-eu", response.json()


def test_model_weights(admin: httpx.Client) -> None:
    response = admin.get("/api/models/breaker/weights")
    assert response.status_code == 200, f"{response.status_code} {response.text[:300]}"
    versions = response.json().get("versions")
    assert isinstance(versions, list) and versions, response.json()
    for version in versions:
        backends = version.get("backends")
        assert isinstance(backends, list) and len(backends) == 2, f"breaker has two backends: {version}"
        for backend in backends:
            assert isinstance(backend.get("weight"), (int, float)), f"no numeric weight: {backend}"
            assert isinstance(backend.get("effective_weight"), (int, float)), \
                f"no numeric effective_weight: {backend}"


# ---------------------------------------------------------------------------
# 6. Routing filters on the client API
# ---------------------------------------------------------------------------


def test_exclude_providers_header(alice: openai.OpenAI) -> None:
    served = backends_served(alice, "regional", 10, {"x-switchyard-exclude-providers": "up"})
    assert served == ["up2/ok-eu"] * 10, f"provider up was excluded, yet: {served}"


def test_region_header_prefers_that_region(alice: openai.OpenAI) -> None:
    served = backends_served(alice, "regional", 10, {"x-switchyard-region": "eu"})
    assert served == ["up2/ok-eu"] * 10, f"both backends are healthy, so eu should serve: {served}"


def test_tagged_backend_is_hidden_from_untagged_user(bob: openai.OpenAI) -> None:
    served = backends_served(bob, "tagged", 20)
    assert "up/ok-team" not in served, f"bob has no team-a tag, yet: {served}"
    assert set(served) == {"up/ok-public"}, served


def test_tagged_backend_serves_tagged_user(alice: openai.OpenAI) -> None:
    served: list[str | None] = []
    for _ in range(40):
        served.append(chat(alice, "tagged").backend)
        if served[-1] == "up/ok-team":
            break
    assert served[-1] == "up/ok-team", f"alice (team-a) never reached up/ok-team in 40 requests: {set(served)}"
    assert set(served) <= {"up/ok-team", "up/ok-public"}, served


# ---------------------------------------------------------------------------
# 7. Sticky sessions (model "sticky": random over three backends)
# ---------------------------------------------------------------------------


def new_session_id() -> str:
    return f"conv-{uuid.uuid4().hex[:10]}"


def test_sticky_model_spreads_without_session(alice: openai.OpenAI) -> None:
    """Sanity check: without a session, the random strategy does use several backends."""
    served: set[str | None] = set()
    for _ in range(30):
        served.add(chat(alice, "sticky").backend)
        if len(served) > 1:
            break
    assert len(served) > 1, f"30 requests without a session all went to {served}"


@pytest.mark.parametrize("header", ["x-session-id", "x-conversation-id"])
def test_session_sticks_to_one_backend(alice: openai.OpenAI, admin: httpx.Client, header: str) -> None:
    session = new_session_id()
    served = [chat(alice, "sticky", {header: session}) for _ in range(10)]
    backends = {s.backend for s in served}
    assert len(backends) == 1, f"{header}: one session was served by {backends}"
    backend = served[0].backend
    assert backend in {"up/ok-s1", "up/ok-s2", "up/ok-s3"}, backend

    response = admin.get(f"/api/routing/sessions/{session}")
    assert response.status_code == 200, f"{response.status_code} {response.text[:300]}"
    binding = response.json()
    assert binding.get("session_id") == session, binding
    assert binding.get("model") == "sticky", binding
    assert binding.get("version") == served[0].version, binding
    assert binding.get("backend") == backend, binding


def test_session_can_be_deleted(alice: openai.OpenAI, admin: httpx.Client) -> None:
    session = new_session_id()
    chat(alice, "sticky", {"x-session-id": session})
    assert admin.get(f"/api/routing/sessions/{session}").status_code == 200

    deleted = admin.delete(f"/api/routing/sessions/{session}")
    assert deleted.status_code == 204, f"{deleted.status_code} {deleted.text[:200]}"
    gone = admin.get(f"/api/routing/sessions/{session}")
    assert gone.status_code == 404, f"after DELETE: {gone.status_code} {gone.text[:200]}"


def test_unknown_session_is_not_found(admin: httpx.Client) -> None:
    response = admin.get(f"/api/routing/sessions/{new_session_id()}")
    assert response.status_code == 404, f"{response.status_code} {response.text[:200]}"
