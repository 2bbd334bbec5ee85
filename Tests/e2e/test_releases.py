# Over 400 lines: versions, canaries, rollback and rollouts share this module's gateway and its release state.
"""End-to-end tests of releases: the versions API, sticky canaries, rollback and
rollouts (automatic abort, promotion, manual control, too little data).

This module runs its own gateway on the seed below, with only the built-in
`mock` provider; it shares nothing with the other modules. Each test works on a
model of its own, so a rollout in one never sees traffic or changes of another:

    versions  -> v1 (default, 100)                       test 1
    sticky    -> v1 (default, 90), v2 (10)               test 2
    rollback  -> v1 (default, 100), v2 (0)               test 3
    bad       -> v1 (default, 100), v2 (0, error_rate 0.9)   test 4
    good      -> v1 (default, 100), v2 (0)               test 5
    manual    -> v1 (default, 100), v2 (0)               test 6
    starved   -> v1 (default, 100), v2 (0)               test 7
    zombie    -> v1 (default, 100), v2 (0), v3 (0)       canary deleted mid-rollout

The circuit breaker is effectively off (a threshold no test reaches): with it on,
the failing canary's backend would open after a few errors, its users would fall
back to v1, and the rollout analysis would see too few canary requests to judge.
Here the analysis alone has to catch the bad canary.

Every loop is bounded in requests and in time; everything listens on 127.0.0.1.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import openai
import pytest

from conftest import GatewaySeed, chat, error_of

ADMIN_TOKEN = "e2e-releases-admin"
USER_TOKEN = "sk-releases-e2e-user"
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

[models.versions]
backends = [ {{ provider = "mock", model = "versions-v1" }} ]

[models.sticky.versions.v1]
weight = 90
default = true
backends = [ {{ provider = "mock", model = "sticky-v1" }} ]
[models.sticky.versions.v2]
weight = 10
backends = [ {{ provider = "mock", model = "sticky-v2" }} ]

[models.rollback.versions.v1]
weight = 100
default = true
backends = [ {{ provider = "mock", model = "rollback-v1" }} ]
[models.rollback.versions.v2]
weight = 0
backends = [ {{ provider = "mock", model = "rollback-v2" }} ]

[models.bad.versions.v1]
weight = 100
default = true
backends = [ {{ provider = "mock", model = "bad-v1", mock = {{ error_rate = 0 }} }} ]
[models.bad.versions.v2]
weight = 0
backends = [ {{ provider = "mock", model = "bad-v2", mock = {{ error_rate = 0.9, seed = 42 }} }} ]

[models.good.versions.v1]
weight = 100
default = true
backends = [ {{ provider = "mock", model = "good-v1" }} ]
[models.good.versions.v2]
weight = 0
backends = [ {{ provider = "mock", model = "good-v2" }} ]

[models.manual.versions.v1]
weight = 100
default = true
backends = [ {{ provider = "mock", model = "manual-v1" }} ]
[models.manual.versions.v2]
weight = 0
backends = [ {{ provider = "mock", model = "manual-v2" }} ]

[models.starved.versions.v1]
weight = 100
default = true
backends = [ {{ provider = "mock", model = "starved-v1" }} ]
[models.starved.versions.v2]
weight = 0
backends = [ {{ provider = "mock", model = "starved-v2" }} ]

[models.zombie.versions.v1]
weight = 100
default = true
backends = [ {{ provider = "mock", model = "zombie-v1" }} ]
[models.zombie.versions.v2]
weight = 0
backends = [ {{ provider = "mock", model = "zombie-v2" }} ]
[models.zombie.versions.v3]
weight = 0
backends = [ {{ provider = "mock", model = "zombie-v3" }} ]

[users.tester]
token = "{USER_TOKEN}"
"""


# ---------------------------------------------------------------------------
# Fixtures and helpers
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gateway_seed() -> GatewaySeed:
    return GatewaySeed(SEED, ADMIN_TOKEN, USER_TOKEN)


def served_version(http: httpx.Client, model: str, user: str | None = None) -> str:
    response = chat(http, model, user, token=USER_TOKEN)
    assert VERSION_HEADER in response.headers, f"no {VERSION_HEADER}: {response.status_code} {response.text}"
    return response.headers[VERSION_HEADER]


def sdk_version(sdk: openai.OpenAI, model: str, user: str) -> str:
    raw = sdk.chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": "which version?"}], user=user)
    raw.parse()
    return raw.headers[VERSION_HEADER]



def release(admin: httpx.Client, model: str) -> dict[str, Any]:
    response = admin.get(f"/api/models/{model}/release")
    assert response.status_code == 200, response.text
    return response.json()


def rollout_state(admin: httpx.Client, rollout_id: str) -> dict[str, Any]:
    response = admin.get(f"/api/rollouts/{rollout_id}")
    assert response.status_code == 200, response.text
    return response.json()


def start_rollout(admin: httpx.Client, model: str, body: dict[str, Any]) -> dict[str, Any]:
    response = admin.post(f"/api/models/{model}/rollouts", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def new_user(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def drive_traffic(http: httpx.Client, admin: httpx.Client, model: str, rollout_id: str, until: set[str],
                  max_requests: int, timeout_seconds: float, rate_per_second: float = 50,
                  check_every: int = 10) -> tuple[dict[str, Any], dict[str, int]]:
    """Sends requests from distinct end users at about `rate_per_second` until the rollout's state
    is in `until`, `max_requests` were sent or `timeout_seconds` passed. Returns the last rollout
    state and the requests served per version."""
    served: dict[str, int] = {}
    state = rollout_state(admin, rollout_id)
    started = time.monotonic()
    for index in range(max_requests):
        if state["state"] in until or time.monotonic() - started > timeout_seconds:
            break
        due = started + index / rate_per_second
        if (wait := due - time.monotonic()) > 0:
            time.sleep(wait)
        version = served_version(http, model, new_user(f"load-{model}"))
        served[version] = served.get(version, 0) + 1
        if index % check_every == check_every - 1:
            state = rollout_state(admin, rollout_id)
    # Idle until the deadline if the request budget ran out first.
    while state["state"] not in until and time.monotonic() - started <= timeout_seconds:
        time.sleep(0.25)
        state = rollout_state(admin, rollout_id)
    return state, served


def wait_for_state(admin: httpx.Client, rollout_id: str, until: set[str], timeout_seconds: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_seconds
    state = rollout_state(admin, rollout_id)
    while state["state"] not in until and time.monotonic() < deadline:
        time.sleep(0.2)
        state = rollout_state(admin, rollout_id)
    return state


# ---------------------------------------------------------------------------
# 1. Versions API
# ---------------------------------------------------------------------------


def test_versions_api(admin: httpx.Client, http: httpx.Client) -> None:
    listed = admin.get("/api/models/versions/versions")
    assert listed.status_code == 200, listed.text
    body = listed.json()
    assert body["model"] == "versions"
    assert [(v["name"], v["weight"], v["is_default"]) for v in body["versions"]] == [("v1", 100, True)]

    created = admin.post("/api/models/versions/versions", json={
        "name": "v2", "weight": 0, "params": {"temperature": 0.1},
        "backends": [{"provider": "mock", "model": "versions-v2"}],
    })
    assert created.status_code == 201, created.text
    assert created.json()["name"] == "v2"
    assert created.json()["weight"] == 0
    assert created.json()["is_default"] is False
    names = [v["name"] for v in admin.get("/api/models/versions/versions").json()["versions"]]
    assert sorted(names) == ["v1", "v2"]

    duplicate = admin.post("/api/models/versions/versions", json={
        "name": "v2", "backends": [{"provider": "mock", "model": "versions-v2"}]})
    assert duplicate.status_code == 409, duplicate.text

    updated = admin.put("/api/models/versions/versions/v2", json={"weight": 0.05})
    assert updated.status_code == 200, updated.text
    assert updated.json()["weight"] == pytest.approx(0.05)
    state = release(admin, "versions")
    assert state["default"] == "v1"
    assert state["split"] == {"v1": pytest.approx(99.95), "v2": pytest.approx(0.05)}

    # The whole split must sum to exactly 100; the message names the sum.
    bad_split = admin.put("/api/models/versions/split", json={"weights": {"v1": 90, "v2": 9}})
    assert bad_split.status_code == 422, bad_split.text
    error = error_of(bad_split)
    assert "got 99" in error["message"], error
    assert error["field"] == "weights"
    assert release(admin, "versions")["split"] == {"v1": pytest.approx(99.95), "v2": pytest.approx(0.05)}

    good_split = admin.put("/api/models/versions/split", json={"weights": {"v1": 80, "v2": 20}})
    assert good_split.status_code == 200, good_split.text
    assert good_split.json()["split"] == {"v1": 80, "v2": 20}

    # An impossible weight.
    impossible = admin.put("/api/models/versions/weight", json={"version": "v2", "weight": 150})
    assert impossible.status_code in (400, 422), impossible.text
    assert error_of(impossible)["field"] == "weight"
    too_precise = admin.put("/api/models/versions/versions/v2", json={"weight": 0.125})
    assert too_precise.status_code in (400, 422), too_precise.text
    assert error_of(too_precise)["field"] == "weight"
    default_weight = admin.put("/api/models/versions/weight", json={"version": "v1", "weight": 50})
    assert default_weight.status_code == 422, default_weight.text
    assert error_of(default_weight)["field"] == "version"
    assert release(admin, "versions")["split"] == {"v1": 80, "v2": 20}

    # The default version cannot be deleted.
    delete_default = admin.delete("/api/models/versions/versions/v1")
    assert delete_default.status_code == 422, delete_default.text
    assert error_of(delete_default)["field"] == "version"

    # Unknown versions and models.
    for response in (
        admin.put("/api/models/versions/versions/nope", json={"weight": 1}),
        admin.delete("/api/models/versions/versions/nope"),
        admin.put("/api/models/versions/weight", json={"version": "nope", "weight": 1}),
        admin.post("/api/models/versions/rollback", json={"to": "nope"}),
        admin.get("/api/models/no-such-model/versions"),
        admin.get("/api/rollouts/r-doesnotexist"),
    ):
        assert response.status_code == 404, f"{response.request.method} {response.request.url}: {response.text}"
        error_of(response)

    # Malformed JSON.
    malformed = admin.put("/api/models/versions/weight", content=b'{"version": "v2", "weight": ',
                          headers={"Content-Type": "application/json"})
    assert malformed.status_code == 400, malformed.text
    error_of(malformed)

    # Unknown fields are refused by name.
    unknown = admin.post("/api/models/versions/versions", json={
        "name": "v3", "backends": [{"provider": "mock", "model": "versions-v3"}], "colour": "red"})
    assert unknown.status_code == 422, unknown.text
    assert error_of(unknown)["field"] == "colour"
    unknown_put = admin.put("/api/models/versions/versions/v2", json={"wieght": 3})
    assert unknown_put.status_code == 422, unknown_put.text
    assert error_of(unknown_put)["field"] == "wieght"
    unknown_provider = admin.post("/api/models/versions/versions", json={
        "name": "v3", "backends": [{"provider": "nobody", "model": "x"}]})
    assert unknown_provider.status_code == 422, unknown_provider.text
    assert "provider" in (error_of(unknown_provider)["field"] or "")

    # Without (or with a wrong) admin token nothing is read or changed.
    for headers in ({}, {"Authorization": "Bearer wrong-token"}, {"Authorization": f"Bearer {USER_TOKEN}"}):
        assert http.get("/api/models/versions/versions", headers=headers).status_code == 401
        assert http.put("/api/models/versions/weight", headers=headers,
                        json={"version": "v2", "weight": 50}).status_code == 401
    assert release(admin, "versions")["split"] == {"v1": 80, "v2": 20}

    # A non-default version can be deleted; its share goes back to the default.
    deleted = admin.delete("/api/models/versions/versions/v2")
    assert deleted.status_code == 204, deleted.text
    assert release(admin, "versions")["split"] == {"v1": 100}
    assert served_version(http, "versions", "anyone") == "v1"


# ---------------------------------------------------------------------------
# 2. Sticky canary
# ---------------------------------------------------------------------------

STICKY_USERS = 300


def test_sticky_canary_by_end_user(sdk: openai.OpenAI, admin: httpx.Client) -> None:
    assert release(admin, "sticky")["split"] == {"v1": 90, "v2": 10}
    users = [f"u-{index}" for index in range(STICKY_USERS)]
    first = {user: sdk_version(sdk, "sticky", user) for user in users}
    canary = {user for user, version in first.items() if version == "v2"}
    assert set(first.values()) <= {"v1", "v2"}
    # 10 % of 300 is 30; the binomial standard deviation is about 5.2.
    assert 15 <= len(canary) <= 45, f"{len(canary)} of {STICKY_USERS} users on the 10 % canary"

    # Each end user keeps their version: 20 users (canary ones included), three more requests each.
    sample = sorted(canary)[:5] + [user for user in users if user not in canary][:15]
    for user in sample:
        again = [sdk_version(sdk, "sticky", user) for _ in range(3)]
        assert again == [first[user]] * 3, f"{user}: first {first[user]}, then {again}"

    raised = admin.put("/api/models/sticky/weight", json={"version": "v2", "weight": 30})
    assert raised.status_code == 200, raised.text
    assert raised.json()["split"] == {"v1": 70, "v2": 30}

    after = {user: sdk_version(sdk, "sticky", user) for user in users}
    left = sorted(user for user in canary if after[user] != "v2")
    assert not left, f"users moved off the canary when it grew: {left}"
    grown = {user for user, version in after.items() if version == "v2"}
    assert 60 <= len(grown) <= 120, f"{len(grown)} of {STICKY_USERS} users on the 30 % canary"
    print(f"\nsticky canary: {len(canary)} of {STICKY_USERS} users at 10 %, {len(grown)} at 30 %")


# ---------------------------------------------------------------------------
# 3. Rollback and default
# ---------------------------------------------------------------------------


def test_rollback_moves_all_traffic_at_once(admin: httpx.Client, http: httpx.Client, sdk: openai.OpenAI) -> None:
    assert served_version(http, "rollback", "someone") == "v1"

    # Rolling back to v2 (it has 0 %) makes it the default with all traffic.
    to_v2 = admin.post("/api/models/rollback/rollback", json={"to": "v2"})
    assert to_v2.status_code == 200, to_v2.text
    assert to_v2.json()["default"] == "v2"
    assert to_v2.json()["split"] == {"v1": 0, "v2": 100}
    assert to_v2.json()["previous_default"] == "v1"
    assert sdk_version(sdk, "rollback", new_user("next")) == "v2"

    to_v1 = admin.post("/api/models/rollback/rollback", json={"to": "v1"})
    assert to_v1.status_code == 200, to_v1.text
    # The very next request, whoever sends it, is served by v1.
    assert served_version(http, "rollback", new_user("next")) == "v1"
    assert served_version(http, "rollback") == "v1"
    state = release(admin, "rollback")
    assert state["default"] == "v1"
    assert state["split"] == {"v1": 100, "v2": 0}
    assert state["previous_default"] == "v2"
    assert all(served_version(http, "rollback", f"u-{index}") == "v1" for index in range(30))

    # Without "to" a rollback returns to the previous default.
    back = admin.post("/api/models/rollback/rollback", json={})
    assert back.status_code == 200, back.text
    assert back.json()["default"] == "v2"
    assert back.json()["split"] == {"v1": 0, "v2": 100}
    assert served_version(http, "rollback", new_user("next")) == "v2"
    again = admin.post("/api/models/rollback/rollback", json={})
    assert again.status_code == 200, again.text
    assert again.json()["default"] == "v1"
    assert again.json()["split"] == {"v1": 100, "v2": 0}
    assert served_version(http, "rollback", new_user("next")) == "v1"

    # PUT /default changes the default (and so the rollback target) but not the split.
    split = admin.put("/api/models/rollback/split", json={"weights": {"v1": 0, "v2": 100}})
    assert split.status_code == 200, split.text
    assert served_version(http, "rollback", new_user("next")) == "v2"
    made_default = admin.put("/api/models/rollback/default", json={"version": "v2"})
    assert made_default.status_code == 200, made_default.text
    assert made_default.json()["default"] == "v2"
    assert made_default.json()["split"] == {"v1": 0, "v2": 100}
    assert made_default.json()["previous_default"] == "v1"
    assert served_version(http, "rollback", new_user("next")) == "v2"
    made_default = admin.put("/api/models/rollback/default", json={"version": "v1"})
    assert made_default.status_code == 200, made_default.text
    assert made_default.json()["default"] == "v1"
    final = admin.post("/api/models/rollback/rollback", json={"to": "v1"})
    assert final.status_code == 200, final.text
    assert served_version(http, "rollback", new_user("next")) == "v1"
    assert release(admin, "rollback")["split"] == {"v1": 100, "v2": 0}

    unknown_field = admin.post("/api/models/rollback/rollback", json={"target": "v1"})
    assert unknown_field.status_code == 422, unknown_field.text
    assert error_of(unknown_field)["field"] == "target"

    entries = admin.get("/api/audit", params={"object": "model:rollback"}).json()["entries"]
    actions = [entry["action"] for entry in entries]
    assert actions.count("rollback") >= 5, actions
    assert "set_default" in actions and "set_split" in actions, actions
    assert all(entry["source"] == "api" for entry in entries if entry["action"] == "rollback"), entries


# ---------------------------------------------------------------------------
# 4. Automatic abort of a bad canary
# ---------------------------------------------------------------------------


def test_bad_canary_is_aborted_automatically(admin: httpx.Client, http: httpx.Client) -> None:
    rollout = start_rollout(admin, "bad", {
        "canary": "v2",
        "steps": [{"set_weight": 50}, {"pause": {}}],
        "analysis": {"interval": "1s", "min_requests": 20, "max_error_rate_increase": 0.05, "failure_limit": 2},
    })
    assert rollout["state"] == "paused" and rollout["reason"] == "step", rollout
    assert rollout["canary_weight"] == 50
    assert release(admin, "bad")["split"] == {"v1": 50, "v2": 50}

    started = time.monotonic()
    state, served = drive_traffic(http, admin, "bad", rollout["id"], {"aborted", "promoted"},
                                  max_requests=600, timeout_seconds=30)
    elapsed = time.monotonic() - started
    print(f"\nbad canary: aborted after {elapsed:.1f} s; requests served per version before the abort: {served} "
          f"(v2 served {served.get('v2', 0)})")
    assert state["state"] == "aborted", state
    assert "max_error_rate_increase" in state["reason"], state["reason"]
    assert state["canary_weight"] == 0

    failed = [evaluation for evaluation in state["evaluations"] if evaluation["result"] == "fail"]
    assert len(failed) >= 2, state["evaluations"]
    assert failed[-1]["decision"].startswith("abort"), failed[-1]
    for evaluation in failed[-2:]:
        assert evaluation["canary"]["requests"] >= 20 and evaluation["stable"]["requests"] >= 20, evaluation
        assert evaluation["canary"]["error_rate"] > 0.5, evaluation
        assert evaluation["stable"]["error_rate"] == 0, evaluation
        check = next(check for check in evaluation["checks"] if check["name"] == "max_error_rate_increase")
        assert check["passed"] is False
        assert check["threshold"] == pytest.approx(0.05)
        assert check["measured"] == pytest.approx(
            evaluation["canary"]["error_rate"] - evaluation["stable"]["error_rate"])
        assert check["measured"] > 0.5
        assert check["p_value"] is not None and 0 <= check["p_value"] < 0.05, check

    after = release(admin, "bad")
    assert after["default"] == "v1"
    assert after["split"] == {"v1": 100, "v2": 0}
    assert after["rollout"] is None
    later = [served_version(http, "bad", new_user("after")) for _ in range(100)]
    assert set(later) == {"v1"}, later

    # An aborted rollout cannot be controlled any more.
    assert admin.post(f"/api/rollouts/{rollout['id']}/resume").status_code == 409
    actions = [entry["action"] for entry in
               admin.get("/api/audit", params={"object": f"rollout:{rollout['id']}"}).json()["entries"]]
    assert "start" in actions and "aborted" in actions, actions


# ---------------------------------------------------------------------------
# 5. Promotion of a healthy canary
# ---------------------------------------------------------------------------


def test_healthy_canary_is_promoted(admin: httpx.Client, http: httpx.Client) -> None:
    rollout = start_rollout(admin, "good", {
        "canary": "v2",
        "steps": [{"set_weight": 20}, {"pause": "2s"}, {"set_weight": 60}, {"pause": "2s"}],
        "analysis": {"interval": "1s", "min_requests": 10, "max_error_rate_increase": 0.05},
    })
    assert rollout["canary_weight"] == 20
    assert release(admin, "good")["split"] == {"v1": 80, "v2": 20}

    started = time.monotonic()
    state, served = drive_traffic(http, admin, "good", rollout["id"], {"aborted", "promoted"},
                                  max_requests=1500, timeout_seconds=30)
    print(f"\nhealthy canary: {state['state']} after {time.monotonic() - started:.1f} s; served {served}")
    assert state["state"] == "promoted", state
    assert state["canary_weight"] == 100
    assert state["current_step"] == 4
    passes = [evaluation for evaluation in state["evaluations"] if evaluation["result"] == "pass"]
    assert {evaluation["step"] for evaluation in passes} >= {1, 3}, state["evaluations"]

    after = release(admin, "good")
    assert after["default"] == "v2"
    assert after["split"] == {"v1": 0, "v2": 100}
    assert after["previous_default"] == "v1"
    assert after["rollout"] is None
    assert {served_version(http, "good", new_user("after")) for _ in range(30)} == {"v2"}

    audit = admin.get("/api/audit", params={"object": f"rollout:{rollout['id']}"})
    assert audit.status_code == 200, audit.text
    entries = sorted(audit.json()["entries"], key=lambda entry: (entry["time"], entry["id"]))
    actions = [entry["action"] for entry in entries]
    assert actions[0] == "start" and actions[-1] == "promoted", actions
    weights = [entry["after"]["canary_weight"] for entry in entries]
    assert weights[0] == 20 and 60 in weights and weights[-1] == 100, weights
    assert weights == sorted(weights), weights
    assert all(entry["object"] == f"rollout:{rollout['id']}" for entry in entries)

    model_audit = admin.get("/api/audit", params={"object": "model:good"}).json()["entries"]
    by_rollout = [entry for entry in model_audit if entry["source"] == "rollout"]
    assert by_rollout, model_audit
    assert all(entry["action"] == "rollout_step" and entry["actor"] == "rollout" for entry in by_rollout), by_rollout


# ---------------------------------------------------------------------------
# 6. Manual control
# ---------------------------------------------------------------------------


def test_manual_rollout_control(admin: httpx.Client) -> None:
    rollout = start_rollout(admin, "manual", {"canary": "v2", "steps": [{"set_weight": 5}, {"pause": {}}]})
    rollout_id = rollout["id"]
    assert rollout["state"] == "paused" and rollout["reason"] == "step", rollout
    # Without an analysis table the standard one applies.
    assert float(rollout["analysis"]["interval"].removesuffix("s")) == 30
    assert rollout["analysis"]["max_error_rate_increase"] == pytest.approx(0.05)
    assert release(admin, "manual")["split"] == {"v1": 95, "v2": 5}
    assert release(admin, "manual")["rollout"]["id"] == rollout_id

    second = admin.post("/api/models/manual/rollouts", json={"canary": "v2", "steps": [{"set_weight": 1}]})
    assert second.status_code == 409, second.text
    assert rollout_id in error_of(second)["message"]

    paused = admin.post(f"/api/rollouts/{rollout_id}/pause")
    assert paused.status_code == 200, paused.text
    assert (paused.json()["state"], paused.json()["reason"]) == ("paused", "manual")
    assert rollout_state(admin, rollout_id)["reason"] == "manual"

    resumed = admin.post(f"/api/rollouts/{rollout_id}/resume")
    assert resumed.status_code == 200, resumed.text
    # Back on the open pause: waiting for a promote.
    assert (resumed.json()["state"], resumed.json()["reason"]) == ("paused", "step")
    assert release(admin, "manual")["split"] == {"v1": 95, "v2": 5}

    promoted = admin.post(f"/api/rollouts/{rollout_id}/promote", params={"full": "true"})
    assert promoted.status_code == 200, promoted.text
    assert promoted.json()["state"] == "promoted"
    state = release(admin, "manual")
    assert state["default"] == "v2" and state["split"] == {"v1": 0, "v2": 100}

    again = admin.post(f"/api/rollouts/{rollout_id}/promote", params={"full": "true"})
    assert again.status_code == 409, again.text
    error_of(again)
    assert admin.post(f"/api/rollouts/{rollout_id}/abort").status_code == 409
    assert admin.post("/api/rollouts/r-doesnotexist/pause").status_code == 404

    # Bad rollout requests name their field.
    bad_step = admin.post("/api/models/manual/rollouts", json={"canary": "v1", "steps": [{"pause": "soon"}]})
    assert bad_step.status_code == 422, bad_step.text
    assert "pause" in (error_of(bad_step)["field"] or "")
    is_default = admin.post("/api/models/manual/rollouts", json={"canary": "v2", "steps": [{"set_weight": 1}]})
    assert is_default.status_code == 422, is_default.text
    assert error_of(is_default)["field"] == "canary"


# ---------------------------------------------------------------------------
# 7. Too little data
# ---------------------------------------------------------------------------


def test_rollout_without_traffic_pauses_for_data(admin: httpx.Client) -> None:
    rollout = start_rollout(admin, "starved", {
        "canary": "v2",
        "steps": [{"set_weight": 10}, {"pause": "1s"}, {"set_weight": 50}, {"pause": "1s"}],
        "analysis": {"interval": "1s", "min_requests": 1000, "max_error_rate_increase": 0.05},
    })
    time.sleep(3)
    state = rollout_state(admin, rollout["id"])
    assert (state["state"], state["reason"]) == ("paused", "insufficient_data"), state
    assert state["current_step"] == 1
    assert state["canary_weight"] == 10
    assert state["evaluations"], state
    assert all(evaluation["result"] == "insufficient_data" for evaluation in state["evaluations"]), state
    assert release(admin, "starved")["split"] == {"v1": 90, "v2": 10}

    # And it stays there: neither promoted nor aborted.
    time.sleep(2)
    state = rollout_state(admin, rollout["id"])
    assert (state["state"], state["reason"], state["canary_weight"]) == ("paused", "insufficient_data", 10), state
    assert release(admin, "starved")["split"] == {"v1": 90, "v2": 10}

    aborted = admin.post(f"/api/rollouts/{rollout['id']}/abort")
    assert aborted.status_code == 200, aborted.text
    assert aborted.json()["state"] == "aborted"
    assert release(admin, "starved")["split"] == {"v1": 100, "v2": 0}


# ---------------------------------------------------------------------------
# A running rollout's canary deleted
# ---------------------------------------------------------------------------


def test_deleting_the_canary_does_not_strand_its_rollout(admin: httpx.Client) -> None:
    rollout = start_rollout(admin, "zombie", {"canary": "v2", "steps": [{"set_weight": 10}, {"pause": {}}]})
    deleted = admin.delete("/api/models/zombie/versions/v2")
    # Either refusing the delete or ending the rollout is fine; a rollout that can be neither
    # aborted nor promoted, and blocks every other rollout of the model, is not.
    assert deleted.status_code in (204, 409, 422), deleted.text
    aborted = admin.post(f"/api/rollouts/{rollout['id']}/abort")
    assert aborted.status_code in (200, 409), aborted.text
    assert rollout_state(admin, rollout["id"])["state"] == "aborted"
    if deleted.status_code == 204:
        assert release(admin, "zombie")["split"] == {"v1": 100, "v3": 0}
        second = admin.post("/api/models/zombie/rollouts", json={"canary": "v3", "steps": [{"set_weight": 10}, {"pause": {}}]})
        assert second.status_code == 201, second.text
        assert admin.post(f"/api/rollouts/{second.json()['id']}/abort").status_code == 200
