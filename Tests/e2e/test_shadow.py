"""End-to-end tests of shadow traffic: copies of a share of a model's requests sent to a candidate
version that serves no one, recorded apart, compared with the primary, and judged by a rollout's
shadow step.

This module runs its own gateway on the seed below, with only the built-in `mock` provider:

    flaky    -> v1 (default), v2 (shadow at 100 %, fails half its copies)
    slow     -> v1 (default), v2 (shadow at 100 %, first byte after 2 s, at most 4 copies open)
    judged   -> v1 (default), v2 (fails 90 %): a rollout opening with a shadow step must abort
    trusted  -> v1 (default), v2 (healthy): a rollout's shadow step passes on to set_weight
    billed   -> v1 (default), v2 (shadow, priced): copies stay out of the user's usage and budget

The circuit breaker is effectively off, as in test_releases.py: the failing candidates' copies
must reach the analysis. Every loop is bounded in requests and in time; everything listens on
127.0.0.1.
"""

from __future__ import annotations

import concurrent.futures
import statistics
import time
import uuid
from typing import Any, Iterator

import httpx
import pytest

from conftest import GatewaySeed, chat, sse_data

ADMIN_TOKEN = "e2e-shadow-admin"
USER_TOKEN = "sk-shadow-e2e-user"
VERSION_HEADER = "x-switchyard-version"

SEED = f"""\
[server]
admin_token = "{ADMIN_TOKEN}"

[settings]
max_retries = 0
health_check_interval_seconds = 0
circuit_breaker_failure_threshold = 10000
circuit_breaker_error_rate_threshold = 1.0
circuit_breaker_window = 10000

[providers.mock]
format = "mock"

[providers.priced]
format = "mock"
cost_input_per_mtok = 1000
cost_output_per_mtok = 1000

[models.flaky.versions.v1]
weight = 100
default = true
backends = [ {{ provider = "mock", model = "flaky-v1", mock = {{ latency_ms = 20 }} }} ]
[models.flaky.versions.v2]
weight = 0
backends = [ {{ provider = "mock", model = "flaky-v2", mock = {{ error_rate = 0.5, seed = 11 }} }} ]
[models.flaky.shadow]
version = "v2"
share = 100
max_in_flight = 64
keep_examples = 3

[models.slow.versions.v1]
weight = 100
default = true
backends = [ {{ provider = "mock", model = "slow-v1", mock = {{ latency_ms = 10 }} }} ]
[models.slow.versions.v2]
weight = 0
backends = [ {{ provider = "mock", model = "slow-v2", mock = {{ ttft_ms = 2000 }} }} ]
[models.slow.shadow]
version = "v2"
share = 100
max_in_flight = 4

[models.judged.versions.v1]
weight = 100
default = true
backends = [ {{ provider = "mock", model = "judged-v1" }} ]
[models.judged.versions.v2]
weight = 0
backends = [ {{ provider = "mock", model = "judged-v2", mock = {{ error_rate = 0.9, seed = 5 }} }} ]

[models.trusted.versions.v1]
weight = 100
default = true
backends = [ {{ provider = "mock", model = "trusted-v1" }} ]
[models.trusted.versions.v2]
weight = 0
backends = [ {{ provider = "mock", model = "trusted-v2" }} ]

[models.billed.versions.v1]
weight = 100
default = true
backends = [ {{ provider = "mock", model = "billed-v1" }} ]
[models.billed.versions.v2]
weight = 0
backends = [ {{ provider = "priced", model = "billed-v2" }} ]
[models.billed.shadow]
version = "v2"
share = 100

[users.shadowed]
token = "{USER_TOKEN}"

[users.frugal]
token = "sk-shadow-e2e-frugal"
budget = {{ daily_usd = 0.000001 }}
"""


@pytest.fixture(scope="module")
def gateway_seed() -> GatewaySeed:
    return GatewaySeed(SEED, ADMIN_TOKEN, USER_TOKEN)


def new_user(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def results(admin: httpx.Client, model: str) -> dict[str, Any]:
    response = admin.get(f"/api/models/{model}/shadow/results")
    assert response.status_code == 200, response.text
    return response.json()


def wait_for_copies(admin: httpx.Client, model: str, count: int, timeout_seconds: float = 20) -> dict[str, Any]:
    """The model's shadow results once `count` copies are recorded (or the time is up)."""
    deadline = time.monotonic() + timeout_seconds
    found = results(admin, model)
    while found["shadow"]["requests"] < count and time.monotonic() < deadline:
        time.sleep(0.25)
        found = results(admin, model)
    return found


def paced(count: int, rate_per_second: float = 100) -> Iterator[int]:
    """`range(count)` at about `rate_per_second`: a rollout judges once a second, so traffic must last."""
    started = time.monotonic()
    for index in range(count):
        if (wait := started + index / rate_per_second - time.monotonic()) > 0:
            time.sleep(wait)
        yield index


def timed_chat(http: httpx.Client, model: str) -> float:
    started = time.perf_counter()
    response = chat(http, model, new_user("timed"))
    elapsed = time.perf_counter() - started
    assert response.status_code == 200, response.text
    assert response.headers[VERSION_HEADER] == "v1"
    return elapsed


def test_a_failing_shadow_never_touches_the_client(admin: httpx.Client, user_http: httpx.Client) -> None:
    # The same requests with the shadow off, then on: the client sees no difference.
    assert admin.delete("/api/models/flaky/shadow").status_code == 200
    without = [timed_chat(user_http, "flaky") for _ in range(40)]
    shown = admin.put("/api/models/flaky/shadow", json={"version": "v2", "share": 100, "max_in_flight": 64, "keep_examples": 3})
    assert shown.status_code == 200, shown.text
    assert shown.json()["effective"]["version"] == "v2" and shown.json()["source"] == "model"
    answers = []
    with_shadow = []
    for _ in range(80):
        started = time.perf_counter()
        response = chat(user_http, "flaky", new_user("flaky"), text="tell me about shadows")
        with_shadow.append(time.perf_counter() - started)
        assert response.status_code == 200, response.text
        assert response.headers[VERSION_HEADER] == "v1"
        answers.append(response.json()["choices"][0]["message"]["content"])
    off, on = statistics.median(without), statistics.median(with_shadow)
    print(f"\nflaky: primary p50 {off * 1000:.1f} ms with the shadow off, {on * 1000:.1f} ms on")
    assert on < off + 0.015, (off, on)

    found = wait_for_copies(admin, "flaky", 80)
    shadow, primary = found["shadow"], found["primary"]
    assert shadow["requests"] == 80 and primary["requests"] == 80, found
    assert 0.3 <= shadow["error_rate"] <= 0.7, shadow
    assert primary["error_rate"] == 0
    agreement = found["agreement"]
    assert agreement["measure"] == "token_dice"
    assert agreement["compared"] == 80 - shadow["errors"], agreement
    assert sum(agreement["histogram"]) == agreement["compared"]
    assert found["copies_since_start"]["sent"] >= 80

    # Recorded apart: the request log's version rows, the metrics' role label.
    metrics = admin.get("/metrics").text
    assert 'model="flaky",version="v2"' in metrics and 'role="shadow"' in metrics
    served = [line for line in metrics.splitlines()
              if line.startswith("switchyard_requests_total{") and 'model="flaky"' in line and 'role="primary"' in line]
    assert served and all('version="v1"' in line for line in served), served


def test_streams_are_shadowed_and_their_ttft_measured(admin: httpx.Client, user_http: httpx.Client) -> None:
    before = results(admin, "flaky")["shadow"]["requests"]
    for _ in range(10):
        with user_http.stream("POST", "/v1/chat/completions", json={
            "model": "flaky", "stream": True, "user": new_user("stream"), "messages": [{"role": "user", "content": "stream it"}],
        }) as response:
            assert response.status_code == 200
            events = sse_data(response)
        assert events[-1] == "[DONE]", events
    found = wait_for_copies(admin, "flaky", before + 10)
    assert found["shadow"]["requests"] >= before + 10
    assert found["shadow"]["p50_ttft_ms"] is not None and found["primary"]["p50_ttft_ms"] is not None, found


def test_a_slow_shadow_is_bounded_and_its_drops_counted(admin: httpx.Client, gateway: str) -> None:
    def one(index: int) -> tuple[int, float, str]:
        with httpx.Client(base_url=gateway, timeout=30, trust_env=False, headers={"Authorization": f"Bearer {USER_TOKEN}"}) as client:
            started = time.perf_counter()
            response = chat(client, "slow", f"slow-user-{index}")
            return response.status_code, time.perf_counter() - started, response.headers.get(VERSION_HEADER, "")

    with concurrent.futures.ThreadPoolExecutor(max_workers=25) as pool:
        outcomes = list(pool.map(one, range(50)))
    statuses = {status for status, _, _ in outcomes}
    slowest = max(elapsed for _, elapsed, _ in outcomes)
    print(f"\nslow shadow: 50 concurrent clients, slowest answer {slowest * 1000:.0f} ms")
    assert statuses == {200}, outcomes
    assert {version for _, _, version in outcomes} == {"v1"}
    assert slowest < 1.5, "no client waited for the 2 s shadow"
    state = admin.get("/api/models/slow/shadow").json()
    assert state["in_flight"] <= 4, state
    found = wait_for_copies(admin, "slow", 4, timeout_seconds=10)
    copies = found["copies_since_start"]
    assert copies["sent"] >= 4 and copies["dropped_in_flight"] >= 30, copies
    assert copies["sent"] + copies["dropped_in_flight"] == 50, copies
    assert 'result="dropped_in_flight"' in admin.get("/metrics").text


def test_a_shadow_step_aborts_a_failing_candidate_before_anyone_is_served(admin: httpx.Client, user_http: httpx.Client) -> None:
    response = admin.post("/api/models/judged/rollouts", json={
        "canary": "v2",
        "steps": [{"shadow": {"share": 100, "duration": "2s", "min_requests": 20}}, {"set_weight": 50}, {"pause": {}}],
        "analysis": {"interval": "1s", "max_error_rate_increase": 0.05, "failure_limit": 2},
    })
    assert response.status_code == 201, response.text
    rollout = response.json()
    assert rollout["canary_weight"] == 0 and rollout["shadow_verdict"] == "running"
    assert admin.get("/api/models/judged/shadow").json()["source"] == "rollout"
    served: dict[str, int] = {}
    deadline = time.monotonic() + 30
    state = rollout
    for index in paced(1500):
        if state["state"] in ("aborted", "promoted") or time.monotonic() > deadline:
            break
        reply = chat(user_http, "judged", new_user("judged"))
        assert reply.status_code == 200, reply.text
        served[reply.headers[VERSION_HEADER]] = served.get(reply.headers[VERSION_HEADER], 0) + 1
        if index % 10 == 9:
            state = admin.get(f"/api/rollouts/{rollout['id']}").json()
    print(f"\njudged: rollout {state['state']} ({state.get('reason')}); requests served per version: {served}")
    assert state["state"] == "aborted", state
    assert state["shadow_verdict"] == "failed" and "max_error_rate_increase" in state["reason"], state
    assert served.get("v2", 0) == 0 and set(served) == {"v1"}, served
    failed = [evaluation for evaluation in state["evaluations"] if evaluation["result"] == "fail"]
    assert failed and failed[-1]["canary"]["error_rate"] > 0.5, failed
    assert admin.get("/api/models/judged/shadow").json()["effective"] is None, "the copies stop with the rollout"


def test_a_shadow_step_passes_a_healthy_candidate_on_to_set_weight(admin: httpx.Client, user_http: httpx.Client) -> None:
    response = admin.post("/api/models/trusted/rollouts", json={
        "canary": "v2",
        "steps": [{"shadow": {"share": 100, "duration": "2s", "min_requests": 20}}, {"set_weight": 30}, {"pause": {}}],
        "analysis": {"interval": "1s", "max_error_rate_increase": 0.05, "min_agreement": 0.5},
    })
    assert response.status_code == 201, response.text
    rollout = response.json()
    deadline = time.monotonic() + 30
    state = rollout
    for index in paced(1500):
        if state["canary_weight"] > 0 or state["state"] in ("aborted", "promoted") or time.monotonic() > deadline:
            break
        assert chat(user_http, "trusted", new_user("trusted")).status_code == 200
        if index % 10 == 9:
            state = admin.get(f"/api/rollouts/{rollout['id']}").json()
    print(f"\ntrusted: rollout {state['state']}, step {state['current_step']}, canary at {state['canary_weight']} %")
    assert state["canary_weight"] == 30 and state["shadow_verdict"] == "passed", state
    judged = [evaluation for evaluation in state["evaluations"] if evaluation["result"] == "pass"]
    assert judged and judged[0]["canary"]["mean_agreement"] is not None, state["evaluations"]
    assert admin.post(f"/api/rollouts/{rollout['id']}/abort").status_code == 200


def test_copies_stay_out_of_usage_and_budgets(admin: httpx.Client, gateway: str) -> None:
    with httpx.Client(base_url=gateway, timeout=30, trust_env=False,
                      headers={"Authorization": "Bearer sk-shadow-e2e-frugal"}) as frugal:
        for _ in range(5):
            response = chat(frugal, "billed", "frugal-end-user")
            assert response.status_code == 200, f"the shadow's cost must not spend the user's budget: {response.text}"
    found = wait_for_copies(admin, "billed", 5)
    assert found["shadow"]["cost_per_request_usd"] > 0 and found["primary"]["cost_per_request_usd"] == 0, found
    mine = admin.get("/api/usage", params={"user": "frugal", "group_by": "user"}).json()["rows"]
    assert mine == [{"key": "frugal", "requests": 5, "errors": 0, "tokens_in": mine[0]["tokens_in"], "cached_tokens_in": 0,
                     "cache_write_tokens_in": 0, "tokens_out": mine[0]["tokens_out"], "cost_usd": 0, "role": "primary"}], mine
    by_model = admin.get("/api/usage", params={"model": "billed", "group_by": "version"}).json()["rows"]
    shadow_rows = [row for row in by_model if row["role"] == "shadow"]
    assert shadow_rows and shadow_rows[0]["key"] == "billed/v2" and shadow_rows[0]["cost_usd"] > 0, by_model


def test_the_shadow_api_refuses_bad_input(admin: httpx.Client) -> None:
    for body, field in [
        ({"version": "v9", "share": 10}, "version"),
        ({"version": "v1", "share": 10}, "shadow.version"),
        ({"version": "v2", "share": 101}, "share"),
        ({"version": "v2"}, "share"),
        ({"version": "v2", "share": 10, "mirror": True}, "mirror"),
    ]:
        response = admin.put("/api/models/trusted/shadow", json=body)
        assert response.status_code in (400, 404, 422), (body, response.text)
        assert field in response.json()["error"]["field"], (body, response.json())
    assert admin.put("/api/models/ghost/shadow", json={"version": "v2", "share": 1}).status_code == 404
    assert admin.get("/api/models/trusted/shadow/results").status_code == 400, "no shadow and no version named"
    unknown = admin.get("/api/models/flaky/shadow/results", params={"version": "v9"})
    assert unknown.status_code == 404 and unknown.json()["error"]["field"] == "version", unknown.text
    stops_before = [entry for entry in admin.get("/api/audit", params={"object": "model:trusted"}).json()["entries"]
                    if entry["action"] == "stop_shadow"]
    assert admin.delete("/api/models/trusted/shadow").json()["shadow"] is None
    stops_after = [entry for entry in admin.get("/api/audit", params={"object": "model:trusted"}).json()["entries"]
                   if entry["action"] == "stop_shadow"]
    assert len(stops_after) == len(stops_before), "stopping no shadow writes no audit row"
    entries = admin.get("/api/audit", params={"object": "model:flaky"}).json()["entries"]
    assert {"set_shadow", "stop_shadow"} <= {entry["action"] for entry in entries}
