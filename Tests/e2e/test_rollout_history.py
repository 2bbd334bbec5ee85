"""End-to-end tests of the rollout history: `GET /api/rollouts` and `GET /api/models/{model}/rollouts`.

This module runs its own gateway on the seed below (built-in `mock` provider only):

    chat  -> v1 (default, 100), v2 (0)
    embed -> v1 (default, 100), v2 (0)

and starts a dozen rollouts through the admin API that end promoted (a lone `set_weight` step
promotes at once, so the canary alternates between v1 and v2), aborted, or stay paused, then reads
them back: newest first, filtered by model, state and start time, page by page while new rollouts
start between the pages, and refused with a JSON error naming the parameter when a filter is
invalid. Everything listens on 127.0.0.1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from conftest import GatewaySeed

ADMIN_TOKEN = "e2e-rollout-history-admin"

SEED = f"""\
[server]
admin_token = "{ADMIN_TOKEN}"

[settings]
max_retries = 0
health_check_interval_seconds = 0

[providers.mock]
format = "mock"

[models.chat.versions.v1]
weight = 100
default = true
backends = [ {{ provider = "mock", model = "chat-v1" }} ]
[models.chat.versions.v2]
weight = 0
backends = [ {{ provider = "mock", model = "chat-v2" }} ]

[models.embed.versions.v1]
weight = 100
default = true
backends = [ {{ provider = "mock", model = "embed-v1" }} ]
[models.embed.versions.v2]
weight = 0
backends = [ {{ provider = "mock", model = "embed-v2" }} ]
"""

SUMMARY_FIELDS = {"id", "model", "canary", "stable", "state", "reason", "started_at", "ended_at", "current_step",
                  "steps_reached", "step_count", "canary_weight", "evaluation_count", "shadow"}


@pytest.fixture(scope="module")
def gateway_seed() -> GatewaySeed:
    return GatewaySeed(SEED, ADMIN_TOKEN)


@dataclass
class Started:
    id: str
    model: str
    state: str


def default_version(admin: httpx.Client, model: str) -> str:
    response = admin.get(f"/api/models/{model}/release")
    assert response.status_code == 200, response.text
    return response.json()["default"]


def start(admin: httpx.Client, model: str, end: str) -> Started:
    """A rollout of `model` to its other version that ends `promoted`, `aborted` or stays `paused`."""
    canary = "v2" if default_version(admin, model) == "v1" else "v1"
    steps = [{"set_weight": 10}] if end == "promoted" else [{"set_weight": 5}, {"pause": {}}]
    response = admin.post(f"/api/models/{model}/rollouts", json={"canary": canary, "steps": steps})
    assert response.status_code == 201, response.text
    rollout = response.json()
    if end == "aborted":
        aborted = admin.post(f"/api/rollouts/{rollout['id']}/abort")
        assert aborted.status_code == 200, aborted.text
        rollout = aborted.json()
    assert rollout["state"] == end, rollout
    return Started(rollout["id"], model, end)


@pytest.fixture(scope="module")
def started(admin: httpx.Client) -> list[Started]:
    """Twelve rollouts in the order they started; the last of each model still paused."""
    plan = [("chat", "promoted"), ("chat", "aborted"), ("embed", "aborted"), ("chat", "promoted"), ("embed", "promoted"),
            ("chat", "aborted"), ("chat", "aborted"), ("embed", "aborted"), ("chat", "promoted"), ("chat", "aborted"),
            ("embed", "paused"), ("chat", "paused")]
    return [start(admin, model, end) for model, end in plan]


def listed(admin: httpx.Client, path: str = "/api/rollouts", **params: Any) -> dict[str, Any]:
    response = admin.get(path, params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"rollouts", "next"}, body
    return body


def ids(admin: httpx.Client, path: str = "/api/rollouts", **params: Any) -> list[str]:
    return [rollout["id"] for rollout in listed(admin, path, limit=500, **params)["rollouts"]]


def newest_first(rollouts: list[Started]) -> list[str]:
    return [rollout.id for rollout in reversed(rollouts)]


def test_every_rollout_is_listed_newest_first_as_a_summary(admin: httpx.Client, started: list[Started]) -> None:
    page = listed(admin, limit=500)
    assert [rollout["id"] for rollout in page["rollouts"]] == newest_first(started)
    assert page["next"] is None
    times = [rollout["started_at"] for rollout in page["rollouts"]]
    assert times == sorted(times, reverse=True)
    by_id = {rollout["id"]: rollout for rollout in page["rollouts"]}
    for rollout in page["rollouts"]:
        assert set(rollout) == SUMMARY_FIELDS, rollout
        assert rollout["shadow"] is None

    promoted = by_id[started[0].id]
    assert (promoted["state"], promoted["reason"], promoted["canary"], promoted["stable"]) == ("promoted", None, "v2", "v1")
    assert (promoted["steps_reached"], promoted["step_count"], promoted["canary_weight"]) == (1, 1, 100)
    assert promoted["ended_at"] >= promoted["started_at"]

    aborted = by_id[started[1].id]
    assert (aborted["state"], aborted["reason"], aborted["canary"], aborted["stable"]) == ("aborted", "aborted by admin", "v1", "v2")
    assert (aborted["current_step"], aborted["steps_reached"], aborted["step_count"], aborted["canary_weight"]) == (1, 2, 2, 0)
    # The full record tells the same end.
    full = admin.get(f"/api/rollouts/{aborted['id']}").json()
    assert full["ended_at"] == aborted["ended_at"] and full["updated_at"] == aborted["ended_at"]
    assert aborted["evaluation_count"] == len(full["evaluations"])

    running = by_id[started[-1].id]
    assert (running["state"], running["reason"], running["ended_at"], running["canary_weight"]) == ("paused", "step", None, 5)
    assert admin.get(f"/api/rollouts/{running['id']}").json()["ended_at"] is None


def test_filters_by_model_state_and_start_time(admin: httpx.Client, started: list[Started]) -> None:
    chat = [rollout for rollout in started if rollout.model == "chat"]
    assert ids(admin, model="chat") == newest_first(chat)
    assert ids(admin, "/api/models/chat/rollouts") == newest_first(chat)
    assert ids(admin, "/api/models/embed/rollouts") == newest_first([r for r in started if r.model == "embed"])
    for state in ("promoted", "aborted", "paused"):
        assert ids(admin, state=state) == newest_first([r for r in started if r.state == state]), state
    assert ids(admin, "/api/models/chat/rollouts", state="aborted") == newest_first([r for r in chat if r.state == "aborted"])
    assert ids(admin, state="progressing") == []
    # The per-model path wins over a model parameter.
    assert ids(admin, "/api/models/embed/rollouts", model="chat") == ids(admin, "/api/models/embed/rollouts")
    assert ids(admin, model="gone") == []

    everything = listed(admin, limit=500)["rollouts"]
    # `since` is inclusive, to the exact start time the list shows.
    cut = everything[4]["started_at"]
    assert ids(admin, since=cut) == [rollout["id"] for rollout in everything[:5]]
    assert ids(admin, since=(cut + everything[3]["started_at"]) / 2) == [rollout["id"] for rollout in everything[:4]]
    assert ids(admin, since="2020-01-01") == newest_first(started)
    assert ids(admin, since="2020-01-01T00:00:00Z", model="embed", state="aborted") == newest_first(
        [r for r in started if r.model == "embed" and r.state == "aborted"])
    assert ids(admin, since="9999-01-01") == []


def test_invalid_parameters_are_refused_naming_them(admin: httpx.Client) -> None:
    for path in ("/api/rollouts", "/api/models/chat/rollouts"):
        for params, field in (({"state": "sleeping"}, "state"), ({"state": "Aborted"}, "state"), ({"limit": 0}, "limit"),
                              ({"limit": 501}, "limit"), ({"limit": "ten"}, "limit"), ({"since": "tomorrow-ish"}, "since"),
                              ({"before": "not-a-cursor"}, "before"), ({"before": "bm8tc3BhY2U"}, "before")):
            response = admin.get(path, params=params)
            assert response.status_code == 400, f"{path} {params}: {response.status_code} {response.text}"
            error = response.json()["error"]
            assert error["field"] == field and error["message"], f"{path} {params}: {error}"
    assert "progressing, paused, promoted, aborted" in admin.get("/api/rollouts", params={"state": "x"}).json()["error"]["message"]

    unknown = admin.get("/api/models/nope/rollouts")
    assert unknown.status_code == 404, unknown.text
    assert unknown.json()["error"]["field"] == "model"


def test_pages_follow_one_another_without_repeats_or_gaps_while_rollouts_start(
        admin: httpx.Client, started: list[Started]) -> None:
    # chat's paused rollout ends first, so new ones can start on chat between pages.
    running = next(r for r in started if r.model == "chat" and r.state == "paused")
    assert admin.post(f"/api/rollouts/{running.id}/abort").status_code == 200
    for params in ({}, {"model": "chat"}, {"state": "aborted"}, {"model": "embed"}):
        expected = ids(admin, **params)
        assert len(expected) > 3, params
        seen: list[str] = []
        before = None
        new = None
        for _ in range(20):
            page = listed(admin, limit=3, **params, **({"before": before} if before else {}))
            seen += [rollout["id"] for rollout in page["rollouts"]]
            before = page["next"]
            if before is None:
                break
            assert len(page["rollouts"]) == 3, page
            if new is None:
                # A rollout starts (and ends) between two pages: it sorts before the first page, never into a later one.
                new = start(admin, "chat", "aborted").id
        assert seen == expected, params
        assert new is not None and new not in seen
        if params.get("model") != "embed":
            assert ids(admin, **params)[0] == new, params
