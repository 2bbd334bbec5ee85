# Over 400 lines: the experiment lifecycle and its statistics run on this module's one gateway; a restart test needs its state.
"""End-to-end tests of A/B experiments: the experiments API and its lifecycle, variant assignment
(sticky per end user, across a restart too), the statistics of the results, and feedback.

This module runs its own gateway on the seed below, with only the built-in `mock` provider; it
shares nothing with the other modules. Each test works on a model of its own, so an experiment of
one test never sees the traffic of another (at most one experiment runs per model):

    life      -> v1 (default, 100), v2 (0), v3 (inactive)      lifecycle and errors
    assign    -> v1 (default, 100), v2 (0)                      assignment
    other     -> one backend                                    a variant on another model
    random    -> v1 (default, 100), v2 (0)                      weighted_random assignment
    sched     -> v1 (default, 100), v2 (0)                      start_time / end_time
    stats     -> v1 (default, 100, 5 ms), v2 (0, 40 ms, error_rate 0.35)   statistics
    fb        -> v1 (default, 100), v2 (0)                      feedback
    sticky    -> v1 (default, 100), v2 (0)                      restart (a gateway of its own)

Retries are off and the circuit breaker is effectively off (a threshold no test reaches), as in
test_releases.py: the failing variant's errors must reach the client and the results, not be
hidden by a failover or an open breaker.

Results come from rollups that a background writer stores every 250 ms, so the tests poll them
(bounded) until the request counts add up. Every loop is bounded in requests and in time;
everything listens on 127.0.0.1.
"""

from __future__ import annotations

import concurrent.futures
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

import httpx
import openai
import pytest

from conftest import GatewaySeed, bearer_client, chat, error_of, start_gateway

ADMIN_TOKEN = "e2e-experiments-admin"
USER_TOKEN = "sk-experiments-e2e-user"
USER_ID = "tester"
RESULTS_TIMEOUT_SECONDS = 8

VERSION_HEADER = "x-switchyard-version"
EXPERIMENT_HEADER = "x-switchyard-experiment"
VARIANT_HEADER = "x-switchyard-variant"
REQUEST_ID_HEADER = "x-request-id"

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

[models.life.versions.v1]
weight = 100
default = true
backends = [ {{ provider = "mock", model = "life-v1" }} ]
[models.life.versions.v2]
weight = 0
backends = [ {{ provider = "mock", model = "life-v2" }} ]
[models.life.versions.v3]
weight = 0
active = false
backends = [ {{ provider = "mock", model = "life-v3" }} ]

[models.assign.versions.v1]
weight = 100
default = true
backends = [ {{ provider = "mock", model = "assign-v1" }} ]
[models.assign.versions.v2]
weight = 0
backends = [ {{ provider = "mock", model = "assign-v2" }} ]

[models.other]
backends = [ {{ provider = "mock", model = "other-only" }} ]

[models.random.versions.v1]
weight = 100
default = true
backends = [ {{ provider = "mock", model = "random-v1" }} ]
[models.random.versions.v2]
weight = 0
backends = [ {{ provider = "mock", model = "random-v2" }} ]

[models.sched.versions.v1]
weight = 100
default = true
backends = [ {{ provider = "mock", model = "sched-v1" }} ]
[models.sched.versions.v2]
weight = 0
backends = [ {{ provider = "mock", model = "sched-v2" }} ]

[models.stats.versions.v1]
weight = 100
default = true
backends = [ {{ provider = "mock", model = "stats-v1", mock = {{ latency_ms = 5, ttft_ms = 2, chunks = 2, error_rate = 0 }} }} ]
[models.stats.versions.v2]
weight = 0
backends = [ {{ provider = "mock", model = "stats-v2", mock = {{ latency_ms = 40, ttft_ms = 2, chunks = 2, error_rate = 0.35, seed = 7 }} }} ]

[models.fb.versions.v1]
weight = 100
default = true
backends = [ {{ provider = "mock", model = "fb-v1" }} ]
[models.fb.versions.v2]
weight = 0
backends = [ {{ provider = "mock", model = "fb-v2" }} ]

[models.sticky.versions.v1]
weight = 100
default = true
backends = [ {{ provider = "mock", model = "sticky-v1" }} ]
[models.sticky.versions.v2]
weight = 0
backends = [ {{ provider = "mock", model = "sticky-v2" }} ]

[users.{USER_ID}]
token = "{USER_TOKEN}"
"""


# ---------------------------------------------------------------------------
# Fixtures and helpers
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gateway_seed() -> GatewaySeed:
    return GatewaySeed(SEED, ADMIN_TOKEN, USER_TOKEN)


def assignment(response: httpx.Response) -> tuple[str | None, str | None, str | None]:
    """(experiment, variant, version) as the response's headers name them."""
    headers = response.headers
    return headers.get(EXPERIMENT_HEADER), headers.get(VARIANT_HEADER), headers.get(VERSION_HEADER)


def served(http: httpx.Client, model: str, user: str | None = None) -> tuple[str | None, str | None, str | None]:
    response = chat(http, model, user)
    assert response.status_code == 200, f"{model} for {user}: {response.status_code} {response.text}"
    return assignment(response)



def two_variants(model: str, **extra: Any) -> dict[str, Any]:
    """A request body for an A/B experiment on `model`: A is v1 (the control), B is v2."""
    return {
        "name": f"{model} test", "model": model,
        "variants": [{"id": "A", "version": "v1"}, {"id": "B", "version": "v2"}],
        "control": "A", **extra,
    }


def create(admin: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    response = admin.post("/api/experiments", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def transition(admin: httpx.Client, experiment_id: str, action: str) -> dict[str, Any]:
    response = admin.post(f"/api/experiments/{experiment_id}/{action}")
    assert response.status_code == 200, f"{action}: {response.text}"
    return response.json()


def get_experiment(admin: httpx.Client, experiment_id: str) -> dict[str, Any]:
    response = admin.get(f"/api/experiments/{experiment_id}")
    assert response.status_code == 200, response.text
    return response.json()


def listed(admin: httpx.Client, **params: Any) -> dict[str, Any]:
    response = admin.get("/api/experiments", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def decide(admin: httpx.Client, model: str, **fields: Any) -> dict[str, Any]:
    response = admin.post("/api/routing/decide", json={"model": model, **fields})
    assert response.status_code == 200, response.text
    return response.json()


def results_when(admin: httpx.Client, experiment_id: str, ready: Callable[[dict[str, Any]], bool],
                 timeout_seconds: float = RESULTS_TIMEOUT_SECONDS) -> dict[str, Any]:
    """Polls the results until `ready` holds or the time is up; returns the last ones."""
    deadline = time.monotonic() + timeout_seconds
    while True:
        response = admin.get(f"/api/experiments/{experiment_id}/results")
        assert response.status_code == 200, response.text
        body = response.json()
        if ready(body) or time.monotonic() >= deadline:
            return body
        time.sleep(0.1)


def results_with_requests(admin: httpx.Client, experiment_id: str, counts: dict[str, int]) -> dict[str, Any]:
    """The results once every variant has recorded the requests in `counts`."""
    def ready(body: dict[str, Any]) -> bool:
        return all(by_id(body)[variant]["requests"] >= count for variant, count in counts.items())
    body = results_when(admin, experiment_id, ready)
    recorded = {variant["id"]: variant["requests"] for variant in body["variants"]}
    assert recorded == {variant: counts.get(variant, 0) for variant in recorded}, (
        f"recorded {recorded}, sent {counts}")
    return body


def by_id(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {variant["id"]: variant for variant in results["variants"]}


def comparison(variant: dict[str, Any], metric: str) -> dict[str, Any]:
    found = [entry for entry in variant["comparisons"] if entry["metric"] == metric]
    assert len(found) == 1, variant["comparisons"]
    return found[0]


def iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------------------
# 1. Lifecycle and errors
# ---------------------------------------------------------------------------


def test_lifecycle_and_errors(admin: httpx.Client, user_http: httpx.Client) -> None:
    before = time.time()
    first = create(admin, {
        "name": "life first", "description": "two versions of life", "model": "life",
        "variants": [
            {"id": "A", "name": "stable", "version": "v1", "weight": 3, "description": "control"},
            {"id": "B", "version": "v2"},
        ],
        "control": "A", "created_by": "carol", "min_samples": 50,
    })
    assert first["id"].startswith("e-"), first
    assert first["status"] == "draft"
    assert (first["name"], first["description"], first["model"]) == ("life first", "two versions of life", "life")
    assert first["strategy"] == "consistent_hash"
    assert first["hash_seed"] == first["id"]
    assert first["min_samples"] == 50
    assert first["control"] == "A"
    assert first["created_by"] == "carol"
    assert before - 5 <= first["created_at"] <= time.time() + 5, first
    assert first["started_at"] is None and first["completed_at"] is None
    variants = first["variants"]
    assert [(v["id"], v["name"], v.get("version"), v["weight"]) for v in variants] == [
        ("A", "stable", "v1", 3), ("B", "B", "v2", 1)]
    assert [v["share"] for v in variants] == [pytest.approx(0.75), pytest.approx(0.25)]
    assert variants[0]["description"] == "control"

    second = create(admin, two_variants("life", hash_seed="life-seed"))
    assert second["id"] != first["id"]
    assert second["hash_seed"] == "life-seed"
    assert second["min_samples"] == 100
    assert second["created_by"] == "admin", "created_by defaults to the admin actor"
    assert [v["share"] for v in second["variants"]] == [pytest.approx(0.5), pytest.approx(0.5)]

    # Reading and listing.
    assert get_experiment(admin, first["id"]) == first
    everything = listed(admin, model="life")
    assert everything["total"] == 2 and everything["offset"] == 0 and everything["limit"] >= 2
    assert {e["id"] for e in everything["experiments"]} == {first["id"], second["id"]}
    assert [e["id"] for e in listed(admin, model="life", created_by="carol")["experiments"]] == [first["id"]]
    assert [e["id"] for e in listed(admin, model="life", created_by="admin")["experiments"]] == [second["id"]]
    assert listed(admin, model="life", status="draft")["total"] == 2
    assert listed(admin, model="life", status="running") == {"experiments": [], "total": 0, "limit": 100, "offset": 0}
    assert listed(admin, model="no-such-model")["total"] == 0
    page = listed(admin, model="life", limit=1)
    assert (page["total"], page["limit"], len(page["experiments"])) == (2, 1, 1)
    rest = listed(admin, model="life", limit=1, offset=1)
    assert len(rest["experiments"]) == 1
    assert {page["experiments"][0]["id"], rest["experiments"][0]["id"]} == {first["id"], second["id"]}
    for params, field in (({"status": "sleeping"}, "status"), ({"limit": "0"}, "limit"),
                          ({"limit": "lots"}, "limit"), ({"offset": "-1"}, "offset")):
        bad = admin.get("/api/experiments", params=params)
        assert bad.status_code == 400, f"{params}: {bad.text}"
        assert error_of(bad)["field"] == field, params

    # A draft can neither pause nor complete; nothing meets it yet.
    for action in ("pause", "complete"):
        refused = admin.post(f"/api/experiments/{first['id']}/{action}")
        assert refused.status_code == 409, f"{action}: {refused.text}"
        error_of(refused)
    assert get_experiment(admin, first["id"])["status"] == "draft"
    assert assignment(chat(user_http, "life", "someone")) == (None, None, "v1")

    started = transition(admin, first["id"], "start")
    assert started["status"] == "running" and started["started_at"] is not None, started
    again = admin.post(f"/api/experiments/{first['id']}/start")
    assert again.status_code == 409, again.text
    error_of(again)
    # One running experiment per model.
    crowded = admin.post(f"/api/experiments/{second['id']}/start")
    assert crowded.status_code == 409, crowded.text
    assert error_of(crowded)["field"] == "model"
    assert first["id"] in error_of(crowded)["message"]
    assert get_experiment(admin, second["id"])["status"] == "draft"
    running_delete = admin.delete(f"/api/experiments/{first['id']}")
    assert running_delete.status_code == 409, running_delete.text
    error_of(running_delete)
    assert [e["id"] for e in listed(admin, model="life", status="running")["experiments"]] == [first["id"]]

    # Running: traffic meets a variant.
    experiment_id, variant, version = served(user_http, "life", "someone")
    assert experiment_id == first["id"] and variant in {"A", "B"}
    assert version == {"A": "v1", "B": "v2"}[variant]
    # A transition takes no body: an unknown field is refused like everywhere else.
    with_body = admin.post(f"/api/experiments/{first['id']}/pause", json={"reason": "lunch"})
    assert with_body.status_code == 422, with_body.text
    assert error_of(with_body)["field"] == "reason"

    # A version a running experiment serves cannot be deleted or deactivated from under it.
    for method, body in (("DELETE", None), ("PUT", {"active": False})):
        refused = admin.request(method, "/api/models/life/versions/v2", json=body)
        assert refused.status_code == 409, f"{method}: {refused.text}"
        assert error_of(refused)["field"] == "version"

    paused = transition(admin, first["id"], "pause")
    assert paused["status"] == "paused"
    for user in ("someone", "anyone", None):
        assert assignment(chat(user_http, "life", user)) == (None, None, "v1"), f"paused experiment still assigns {user}"
    assert decide(admin, "life", user="someone")["experiment"] is None
    assert admin.post(f"/api/experiments/{first['id']}/pause").status_code == 409

    # While the first is paused, the second may run; then the first may not.
    transition(admin, second["id"], "start")
    assert served(user_http, "life", "someone")[0] == second["id"]
    assert admin.post(f"/api/experiments/{first['id']}/start").status_code == 409
    completed_second = transition(admin, second["id"], "complete")
    assert completed_second["status"] == "completed" and completed_second["completed_at"] is not None

    resumed = transition(admin, first["id"], "start")
    assert resumed["status"] == "running"
    assert resumed["started_at"] == started["started_at"], "a restart keeps the first start time"
    assert served(user_http, "life", "someone")[:2] == (first["id"], variant)

    done = transition(admin, first["id"], "complete")
    assert done["status"] == "completed" and done["completed_at"] is not None
    assert assignment(chat(user_http, "life", "someone")) == (None, None, "v1")
    for action in ("start", "pause", "complete"):
        assert admin.post(f"/api/experiments/{first['id']}/{action}").status_code == 409, action
    assert listed(admin, model="life", status="completed")["total"] == 2

    # Deleting.
    for experiment in (first, second):
        deleted = admin.delete(f"/api/experiments/{experiment['id']}")
        assert deleted.status_code == 204, deleted.text
        assert admin.get(f"/api/experiments/{experiment['id']}").status_code == 404
    assert listed(admin, model="life")["total"] == 0

    # Unknown experiments.
    for response in (
        admin.get("/api/experiments/e-doesnotexist"),
        admin.get(f"/api/experiments/{first['id']}"),
        admin.delete("/api/experiments/e-doesnotexist"),
        admin.delete(f"/api/experiments/{first['id']}"),
        admin.post("/api/experiments/e-doesnotexist/start"),
        admin.post("/api/experiments/e-doesnotexist/pause"),
        admin.post("/api/experiments/e-doesnotexist/complete"),
        admin.get("/api/experiments/e-doesnotexist/results"),
        admin.post("/api/experiments/e-doesnotexist/feedback", json={"request_id": "x", "score": 1}),
    ):
        assert response.status_code == 404, f"{response.request.method} {response.request.url}: {response.text}"
        error_of(response)


def test_create_validation(admin: httpx.Client, http: httpx.Client) -> None:
    total_before = listed(admin)["total"]
    cases: list[tuple[dict[str, Any], str]] = [
        ({**two_variants("life"), "variants": [{"id": "A", "version": "v1"}]}, "variants"),
        ({**two_variants("life"), "variants": []}, "variants"),
        ({k: v for k, v in two_variants("life").items() if k != "variants"}, "variants"),
        ({**two_variants("life"), "variants": [{"id": "A", "version": "v1"}, {"id": "A", "version": "v2"}]},
         "variants[1].id"),
        ({**two_variants("life"), "control": "C"}, "control"),
        ({**two_variants("life"), "variants": [{"id": "A", "version": "v9"}, {"id": "B", "version": "v2"}]},
         "variants[0].version"),
        ({**two_variants("life"), "variants": [{"id": "A", "version": "v1"}, {"id": "B", "version": "v3"}]},
         "variants[1].version"),
        ({**two_variants("life"), "variants": [{"id": "A", "model": "no-such-model"}, {"id": "B", "version": "v2"}]},
         "variants[0].model"),
        (two_variants("no-such-model"), "model"),
        ({**two_variants("life"), "colour": "red"}, "colour"),
        ({**two_variants("life"), "strategy": "coin_flip"}, "strategy"),
        ({**two_variants("life"), "start_time": "next tuesday"}, "start_time"),
        ({**two_variants("life"), "start_time": 2_000_000_000, "end_time": 1_999_999_999}, "end_time"),
        ({**two_variants("life"), "min_samples": 0}, "min_samples"),
        ({**two_variants("life"), "name": ""}, "name"),
    ]
    for body, field in cases:
        response = admin.post("/api/experiments", json=body)
        assert response.status_code == 422, f"{body}: {response.status_code} {response.text}"
        assert error_of(response)["field"] == field, f"{body}: {response.text}"

    # Problems inside a variant name the variant (and the field).
    for variant, field in (({"id": "B", "version": "v2", "weight": 0}, "weight"),
                           ({"id": "B", "version": "v2", "weight": -1}, "weight"),
                           ({"id": "B"}, "version"),
                           ({"id": "B", "version": "v2", "model": "other"}, "model"),
                           ({"id": "B", "version": "v2", "size": "large"}, "size")):
        response = admin.post("/api/experiments", json={
            **two_variants("life"), "variants": [{"id": "A", "version": "v1"}, variant]})
        assert response.status_code == 422, f"{variant}: {response.text}"
        named = error_of(response)["field"] or ""
        assert field in named and "variants" in named, f"{variant}: {response.text}"

    malformed = admin.post("/api/experiments", content=b'{"name": "x", "model": ',
                           headers={"Content-Type": "application/json"})
    assert malformed.status_code == 400, malformed.text
    error_of(malformed)
    not_an_object = admin.post("/api/experiments", json=[two_variants("life")])
    assert not_an_object.status_code == 400, not_an_object.text

    # Without (or with a wrong) admin token nothing is read or created.
    for headers in ({}, {"Authorization": "Bearer wrong-token"}, {"Authorization": f"Bearer {USER_TOKEN}"}):
        assert http.get("/api/experiments", headers=headers).status_code == 401
        assert http.post("/api/experiments", headers=headers, json=two_variants("life")).status_code == 401
    assert listed(admin)["total"] == total_before, "a refused request created an experiment"


def test_scheduled_start_and_end(admin: httpx.Client, user_http: httpx.Client) -> None:
    now = time.time()
    # An ISO 8601 start (already due) and an end in seconds since 1970, 4 s away.
    experiment = create(admin, two_variants("sched", start_time=iso(now - 2), end_time=now + 4))
    assert experiment["start_time"] == pytest.approx(int(now - 2), abs=1)
    assert experiment["end_time"] == pytest.approx(now + 4)
    deadline = time.monotonic() + 4
    while get_experiment(admin, experiment["id"])["status"] == "draft" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert get_experiment(admin, experiment["id"])["status"] == "running"
    assert served(user_http, "sched", "someone")[0] == experiment["id"]

    deadline = time.monotonic() + 8
    while get_experiment(admin, experiment["id"])["status"] == "running" and time.monotonic() < deadline:
        time.sleep(0.2)
    ended = get_experiment(admin, experiment["id"])
    assert ended["status"] == "completed", ended
    assert assignment(chat(user_http, "sched", "someone"))[0] is None

    # An end_time already past is refused at creation; fractional ISO seconds are read.
    late = admin.post("/api/experiments", json=two_variants("sched", end_time=now - 60))
    assert late.status_code == 422, late.text
    assert error_of(late)["field"] == "end_time"
    fractional = create(admin, two_variants("sched", start_time=iso(now + 3600).replace("Z", ".5Z")))
    assert fractional["start_time"] == pytest.approx(round(now) + 3600.5, abs=1)


# ---------------------------------------------------------------------------
# 2. Assignment
# ---------------------------------------------------------------------------

ASSIGN_USERS = 40
ASSIGN_REPEATS = 3


def test_assignment_is_sticky_per_user(admin: httpx.Client, user_http: httpx.Client, sdk: openai.OpenAI) -> None:
    experiment = create(admin, two_variants("assign"))
    transition(admin, experiment["id"], "start")
    versions = {"A": "v1", "B": "v2"}

    users = [f"assign-user-{index}" for index in range(ASSIGN_USERS)]
    seen: dict[str, set[tuple[str | None, str | None, str | None]]] = {user: set() for user in users}
    for _ in range(ASSIGN_REPEATS):
        for user in users:
            seen[user].add(served(user_http, "assign", user))
    moved = {user: found for user, found in seen.items() if len(found) != 1}
    assert not moved, f"users met more than one variant: {moved}"
    variant_of = {user: next(iter(found))[1] for user, found in seen.items()}
    for user, found in seen.items():
        experiment_id, variant, version = next(iter(found))
        assert experiment_id == experiment["id"]
        assert variant in versions, found
        assert version == versions[variant], f"{user}: variant {variant} served by {version}"
    split = {variant: sum(1 for v in variant_of.values() if v == variant) for variant in versions}
    assert split["A"] > 0 and split["B"] > 0, split
    print(f"\nassignment: {split} of {ASSIGN_USERS} users")

    # The SDK's `user` field is the same key.
    for user in users[:5]:
        raw = sdk.chat.completions.with_raw_response.create(
            model="assign", messages=[{"role": "user", "content": "which variant?"}], user=user)
        raw.parse()
        assert raw.headers[VARIANT_HEADER] == variant_of[user]
        assert raw.headers[EXPERIMENT_HEADER] == experiment["id"]

    # A streamed answer carries the same headers.
    for user in users[:3]:
        with user_http.stream("POST", "/v1/chat/completions", json={
                "model": "assign", "user": user, "stream": True,
                "messages": [{"role": "user", "content": "stream it"}]}) as streamed:
            assert streamed.status_code == 200
            body = streamed.read().decode()
            assert body.rstrip().endswith("data: [DONE]"), body
            assert assignment(streamed) == (experiment["id"], variant_of[user], versions[variant_of[user]])

    # The routing explanation agrees with the traffic, and its bucket with the 50/50 split.
    for user in users[:10]:
        decision = decide(admin, "assign", user=user)
        assert decision["experiment"]["id"] == experiment["id"], decision
        assert decision["experiment"]["variant"] == variant_of[user], (user, decision["experiment"])
        assert decision["experiment"]["sticky"] is True
        bucket = decision["experiment"]["bucket"]
        assert 0 <= bucket < 10_000
        assert (bucket < 5_000) == (variant_of[user] == "A"), decision["experiment"]
        assert decision["version"] == versions[variant_of[user]]

    # Without a `user` the authenticated user's id is the key.
    own = {served(user_http, "assign") for _ in range(5)}
    assert len(own) == 1, own
    own_variant = next(iter(own))[1]
    assert decide(admin, "assign", api_user=USER_ID)["experiment"]["variant"] == own_variant
    assert decide(admin, "assign", user=USER_ID)["experiment"]["variant"] == own_variant

    # A variant may be another model; the client still asks for the experiment's model.
    transition(admin, experiment["id"], "complete")
    cross = create(admin, {
        "name": "another model", "model": "assign", "hash_seed": "cross-seed",
        "variants": [{"id": "own", "version": "v1"}, {"id": "elsewhere", "model": "other"}],
        "control": "own",
    })
    assert cross["variants"][1]["model"] == "other" and "version" not in cross["variants"][1], cross
    transition(admin, cross["id"], "start")
    met: dict[str, str] = {}
    for index in range(40):
        user = f"cross-user-{index}"
        response = chat(user_http, "assign", user)
        assert response.status_code == 200, response.text
        assert response.headers[EXPERIMENT_HEADER] == cross["id"]
        variant = response.headers[VARIANT_HEADER]
        met[user] = variant
        body = response.json()
        assert body["choices"][0]["message"]["content"], body
        if variant == "elsewhere":
            assert response.headers.get("x-switchyard-backend") == "mock/other-only", dict(response.headers)
        else:
            assert response.headers[VERSION_HEADER] == "v1"
        if {"own", "elsewhere"} <= set(met.values()) and index >= 9:
            break
    assert {"own", "elsewhere"} <= set(met.values()), met
    elsewhere = next(user for user, variant in met.items() if variant == "elsewhere")
    assert decide(admin, "assign", user=elsewhere)["experiment"]["variant"] == "elsewhere"
    # The other model on its own is not part of the experiment.
    assert assignment(chat(user_http, "other", elsewhere))[0] is None
    transition(admin, cross["id"], "complete")


def test_weighted_random_is_not_sticky(admin: httpx.Client, user_http: httpx.Client) -> None:
    experiment = create(admin, two_variants("random", strategy="weighted_random"))
    assert experiment["strategy"] == "weighted_random"
    transition(admin, experiment["id"], "start")
    met = [served(user_http, "random", "one-user") for _ in range(40)]
    assert {variant for _, variant, _ in met} == {"A", "B"}, met
    assert all(version == {"A": "v1", "B": "v2"}[variant] for _, variant, version in met), met
    decision = decide(admin, "random", user="one-user")
    assert decision["experiment"]["sticky"] is False, decision["experiment"]
    transition(admin, experiment["id"], "complete")


# ---------------------------------------------------------------------------
# 3. Restart stability
# ---------------------------------------------------------------------------

RESTART_USERS = 20


def test_assignment_survives_a_restart(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> None:
    workdir: Path = tmp_path_factory.mktemp("switchyard-experiments-restart")
    users = [f"restart-user-{index}" for index in range(RESTART_USERS)]

    with start_gateway(SEED, workdir, request.config) as base_url:
        with bearer_client(base_url, ADMIN_TOKEN) as admin, bearer_client(base_url, USER_TOKEN) as http:
            experiment = create(admin, two_variants("sticky"))
            transition(admin, experiment["id"], "start")
            before = {user: served(http, "sticky", user) for user in users}
            assert all(found[0] == experiment["id"] for found in before.values()), before
            assert {found[1] for found in before.values()} == {"A", "B"}, before
            counts = {variant: sum(1 for found in before.values() if found[1] == variant) for variant in ("A", "B")}
            results_with_requests(admin, experiment["id"], counts)

    with start_gateway(SEED, workdir, request.config) as base_url:
        with bearer_client(base_url, ADMIN_TOKEN) as admin, bearer_client(base_url, USER_TOKEN) as http:
            reloaded = get_experiment(admin, experiment["id"])
            assert reloaded["status"] == "running", reloaded
            assert reloaded["hash_seed"] == experiment["hash_seed"]
            assert [v["id"] for v in reloaded["variants"]] == ["A", "B"]
            after = {user: served(http, "sticky", user) for user in users}
            changed = {user: (before[user], after[user]) for user in users if before[user] != after[user]}
            assert not changed, f"users changed variant across the restart: {changed}"
            for user in users[:5]:
                assert decide(admin, "sticky", user=user)["experiment"]["variant"] == before[user][1]
            # The results recorded before the restart are kept and added to.
            results_with_requests(admin, experiment["id"], {variant: 2 * count for variant, count in counts.items()})


# ---------------------------------------------------------------------------
# 4. Statistics end to end
# ---------------------------------------------------------------------------

MIN_SAMPLES = 60
EARLY_PER_VARIANT = 30
LATE_PER_VARIANT = 150
MAX_STATS_REQUESTS = 700
STATS_TIMEOUT_SECONDS = 35
PARALLEL = 4


def sdk_request(sdk: openai.OpenAI, user: str) -> tuple[str, int]:
    """(variant, status) of one request sent with the official SDK."""
    try:
        raw = sdk.chat.completions.with_raw_response.create(
            model="stats", messages=[{"role": "user", "content": "hello there"}], user=user)
        raw.parse()
        return raw.headers[VARIANT_HEADER], raw.http_response.status_code
    except openai.InternalServerError as error:
        assert error.status_code == 500, error
        return error.response.headers[VARIANT_HEADER], 500


def http_request(http: httpx.Client, user: str) -> tuple[str, int]:
    response = chat(http, "stats", user)
    assert response.status_code in (200, 500), response.text
    if response.status_code == 500:
        assert error_of(response)
    return response.headers[VARIANT_HEADER], response.status_code


def send_until(send: Callable[[str], tuple[str, int]], users: Iterator[str], tally: dict[str, dict[int, int]],
               per_variant: int, deadline: float, pool: concurrent.futures.ThreadPoolExecutor) -> None:
    """Sends requests of the next users, `PARALLEL` at a time, until every variant served `per_variant`."""
    def total(variant: str) -> int:
        return sum(tally[variant].values())

    while min(total(v) for v in tally) < per_variant:
        sent = sum(total(v) for v in tally)
        assert sent < MAX_STATS_REQUESTS, f"request budget spent: {tally}"
        assert time.monotonic() < deadline, f"out of time: {tally}"
        for variant, status in pool.map(send, [next(users) for _ in range(PARALLEL)]):
            tally[variant][status] = tally[variant].get(status, 0) + 1


def test_statistics_end_to_end(admin: httpx.Client, user_http: httpx.Client, sdk: openai.OpenAI) -> None:
    # A fixed hash seed and fixed user keys make the split the same on every run (the sample ratio
    # test would flag about one fair random split in a thousand); it is a fair one.
    experiment = create(admin, {
        "name": "slow and flaky v2", "model": "stats", "min_samples": MIN_SAMPLES, "control": "A",
        "hash_seed": "stats-seed", "variants": [{"id": "A", "version": "v1"}, {"id": "B", "version": "v2"}],
    })
    transition(admin, experiment["id"], "start")
    users = (f"stats-user-{index}" for index in range(MAX_STATS_REQUESTS + PARALLEL))
    tally: dict[str, dict[int, int]] = {"A": {}, "B": {}}
    started = time.monotonic()
    deadline = started + STATS_TIMEOUT_SECONDS

    with concurrent.futures.ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        # A little data: numbers, but no verdict.
        send_until(lambda user: sdk_request(sdk, user), users, tally, EARLY_PER_VARIANT, deadline, pool)
        counts = {variant: sum(statuses.values()) for variant, statuses in tally.items()}
        early = results_with_requests(admin, experiment["id"], counts)
        assert early["trustworthy"] is True, early
        assert early["min_samples"] == MIN_SAMPLES
        assert early["significance_level"] == pytest.approx(0.05)
        assert early["summary"].startswith("No verdict yet"), early["summary"]
        early_b = by_id(early)["B"]
        assert early_b["failures"] == tally["B"].get(500, 0)
        assert {c["metric"] for c in early_b["comparisons"]} >= {"success_rate", "latency_ms", "cost_per_request_usd"}
        for entry in early_b["comparisons"]:
            assert entry["significant"] is False, entry
            assert entry["verdict"].startswith("no verdict yet"), entry
        assert by_id(early)["A"]["comparisons"] == []
        print(f"\nstatistics: after {counts}: {early['summary']}")

        # Enough data: v2 is worse on success rate and latency.
        send_until(lambda user: http_request(user_http, user), users, tally, LATE_PER_VARIANT, deadline, pool)
    counts = {variant: sum(statuses.values()) for variant, statuses in tally.items()}
    late = results_with_requests(admin, experiment["id"], counts)
    print(f"statistics: after {counts} ({tally}) in {time.monotonic() - started:.1f} s: {late['summary']}")

    assert late["trustworthy"] is True, late
    ratio = late["sample_ratio"]
    assert ratio["observed"] == [counts["A"], counts["B"]]
    assert ratio["expected_shares"] == [pytest.approx(0.5), pytest.approx(0.5)]
    assert ratio["mismatch"] is False and ratio["p_value"] >= ratio["threshold"] == pytest.approx(0.001), ratio
    assert ratio["chi_square"] >= 0

    control, variant = by_id(late)["A"], by_id(late)["B"]
    assert control["is_control"] is True and variant["is_control"] is False
    assert control["comparisons"] == []
    assert (control["requests"], control["failures"], control["successes"]) == (counts["A"], 0, counts["A"])
    assert control["success_rate"] == 1
    assert variant["failures"] == tally["B"].get(500, 0) > 0
    assert variant["successes"] == tally["B"].get(200, 0)
    assert variant["success_rate"] == pytest.approx(variant["successes"] / variant["requests"])
    low, high = variant["success_rate_ci95"]
    assert low <= variant["success_rate"] <= high, variant
    assert 0.45 <= variant["success_rate"] <= 0.85, variant
    assert variant["latency_ms"]["mean"] > control["latency_ms"]["mean"], (variant["latency_ms"], control["latency_ms"])
    assert variant["latency_ms"]["p95"] >= 40, variant["latency_ms"]
    assert control["tokens_in"] > 0 and control["tokens_out"] > 0
    assert control["ttft_ms"]["count"] == counts["A"]

    success = comparison(variant, "success_rate")
    assert success["test"] == "two_proportion_z"
    assert success["significant"] is True, success
    assert success["control"] == 1 and success["variant"] == pytest.approx(variant["success_rate"])
    assert success["difference"] == pytest.approx(variant["success_rate"] - 1)
    assert success["relative_effect"] < 0
    assert success["p_value"] < 0.001
    assert success["more_requests_needed"] is None
    assert success["verdict"] == "B is worse on success rate than A, p < 0.001", success

    latency = comparison(variant, "latency_ms")
    assert latency["test"] == "welch_t"
    assert latency["significant"] is True, latency
    assert latency["difference"] > 0 and latency["relative_effect"] > 0
    assert latency["verdict"].startswith("B is worse on latency than A"), latency

    assert comparison(variant, "cost_per_request_usd")["significant"] is False
    assert "B is worse on success rate than A" in late["summary"], late["summary"]
    assert "B is worse on latency than A" in late["summary"], late["summary"]


# ---------------------------------------------------------------------------
# 5. Feedback
# ---------------------------------------------------------------------------


def test_feedback(admin: httpx.Client, user_http: httpx.Client) -> None:
    experiment = create(admin, two_variants("fb"))
    transition(admin, experiment["id"], "start")

    # One request of each variant, and feedback on it right away.
    given: dict[str, list[float]] = {"A": [], "B": []}
    request_of: dict[str, str] = {}
    for index in range(40):
        response = chat(user_http, "fb", f"fb-user-{index}")
        assert response.status_code == 200, response.text
        variant = response.headers[VARIANT_HEADER]
        if variant in request_of:
            continue
        request_id = response.headers[REQUEST_ID_HEADER]
        request_of[variant] = request_id
        score = {"A": 4.0, "B": 2.0}[variant]
        posted = admin.post(f"/api/experiments/{experiment['id']}/feedback",
                            json={"request_id": request_id, "score": score, "user": f"fb-user-{index}"})
        assert posted.status_code == 201, posted.text
        assert posted.json() == {"experiment": experiment["id"], "variant": variant, "request_id": request_id,
                                 "score": score, "user": f"fb-user-{index}"}
        given[variant].append(score)
        if len(request_of) == 2:
            break
    assert set(request_of) == {"A", "B"}, request_of

    # A second score on the same request, without a user, replaces the first: one score per request.
    second = admin.post(f"/api/experiments/{experiment['id']}/feedback", json={"request_id": request_of["B"], "score": 1})
    assert second.status_code == 201, second.text
    assert second.json()["user"] is None and second.json()["variant"] == "B"
    given["B"] = [1.0]
    # Another request of B, scored 3.
    for index in range(40, 120):
        response = chat(user_http, "fb", f"fb-user-{index}")
        assert response.status_code == 200, response.text
        if response.headers[VARIANT_HEADER] == "B":
            posted = admin.post(f"/api/experiments/{experiment['id']}/feedback",
                                json={"request_id": response.headers[REQUEST_ID_HEADER], "score": 3})
            assert posted.status_code == 201, posted.text
            given["B"].append(3.0)
            break
    assert len(given["B"]) == 2, given

    def ready(body: dict[str, Any]) -> bool:
        return all(by_id(body)[v]["feedback"]["count"] == len(scores) and
                   by_id(body)[v]["feedback"]["mean"] == pytest.approx(sum(scores) / len(scores))
                   for v, scores in given.items())
    results = results_when(admin, experiment["id"], ready)
    for variant, scores in given.items():
        feedback = by_id(results)[variant]["feedback"]
        assert feedback["count"] == len(scores), (variant, feedback)
        assert feedback["mean"] == pytest.approx(sum(scores) / len(scores)), (variant, feedback)
    scored = comparison(by_id(results)["B"], "feedback_score")
    assert scored["control"] == pytest.approx(4.0) and scored["variant"] == pytest.approx(2.0)
    assert scored["significant"] is False
    # The control has one score: too few to compare.
    assert scored["verdict"].startswith("no verdict yet"), scored

    # Unknown requests, and requests of no or another experiment.
    unknown = admin.post(f"/api/experiments/{experiment['id']}/feedback", json={"request_id": "no-such-request", "score": 3})
    assert unknown.status_code == 404, unknown.text
    assert error_of(unknown)["field"] == "request_id"
    outside = chat(user_http, "other", "fb-user-0")
    assert outside.status_code == 200 and outside.headers.get(EXPERIMENT_HEADER) is None
    not_in_experiment = admin.post(f"/api/experiments/{experiment['id']}/feedback",
                                   json={"request_id": outside.headers[REQUEST_ID_HEADER], "score": 3})
    assert not_in_experiment.status_code == 404, not_in_experiment.text
    assert error_of(not_in_experiment)["field"] == "request_id"
    elsewhere = create(admin, two_variants("life"))
    wrong_experiment = admin.post(f"/api/experiments/{elsewhere['id']}/feedback",
                                  json={"request_id": request_of["A"], "score": 3})
    assert wrong_experiment.status_code == 404, wrong_experiment.text
    assert error_of(wrong_experiment)["field"] == "request_id"
    assert admin.delete(f"/api/experiments/{elsewhere['id']}").status_code == 204

    # Bad bodies.
    for body, field in (({"request_id": request_of["A"]}, "score"),
                        ({"request_id": request_of["A"], "score": "great"}, "score"),
                        ({"score": 3}, "request_id"),
                        ({"request_id": request_of["A"], "score": 3, "stars": 5}, "stars")):
        response = admin.post(f"/api/experiments/{experiment['id']}/feedback", json=body)
        assert response.status_code == 422, f"{body}: {response.text}"
        assert error_of(response)["field"] == field, f"{body}: {response.text}"

    # None of the refused calls counted.
    final = results_when(admin, experiment["id"], lambda body: True)
    assert {v: by_id(final)[v]["feedback"]["count"] for v in given} == {v: len(s) for v, s in given.items()}
    transition(admin, experiment["id"], "complete")
