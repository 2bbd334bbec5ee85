"""Several gateways on one PostgreSQL database (docs/scale-out.md).

Three `switchyard serve` processes share one database on a throwaway PostgreSQL server
(postgres_server.py): a change made through any instance's admin API reaches the others'
routing through NOTIFY/LISTEN, and what each instance records is counted by all.
"""

from __future__ import annotations

import contextlib
import os
from concurrent.futures import ThreadPoolExecutor
import signal
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import httpx
import pytest

from conftest import ADMIN_TOKEN, bearer_client, chat, gateway_binary, start_gateway
from postgres_server import PostgresServer, tool

pytestmark = pytest.mark.skipif(tool("initdb") is None, reason="PostgreSQL is not installed")

ALICE = "sk-alice-scale"
BOB = "sk-bob-scale"
CAROL = "sk-carol-scale"
DAVE = "sk-dave-scale"  # 100 requests a minute, counted across the instances
FRANK = "sk-frank-scale"  # 2 requests a minute, asked for while the database is down
GRACE = "sk-grace-scale"  # a daily budget, spent across the instances
HEIDI = "sk-heidi-scale"  # a token limit, set once a request's tokens are known
SEED = f"""\
[server]
admin_token = "{ADMIN_TOKEN}"

[providers.demo]
format = "mock"

[models.split]
[models.split.versions.v1]
weight = 50
default = true
backends = [ {{ provider = "demo", model = "a" }} ]
[models.split.versions.v2]
weight = 50
backends = [ {{ provider = "demo", model = "b" }} ]

[models.roll]
[models.roll.versions.v1]
weight = 100
default = true
backends = [ {{ provider = "demo", model = "stable" }} ]
[models.roll.versions.v2]
weight = 0
backends = [ {{ provider = "demo", model = "canary" }} ]

[providers.priced]
format = "mock"
cost_output_per_mtok = 1000000

[models.priced]
[models.priced.versions.v1]
weight = 100
default = true
backends = [ {{ provider = "priced", model = "one" }} ]

[models.chat]
sticky = "none"
[models.chat.versions.v1]
weight = 50
default = true
backends = [ {{ provider = "demo", model = "one" }} ]
[models.chat.versions.v2]
weight = 50
backends = [ {{ provider = "demo", model = "two" }} ]

[users.alice]
token = "{ALICE}"

[users.bob]
token = "{BOB}"

[users.carol]
token = "{CAROL}"

[users.dave]
token = "{DAVE}"
rate_limit = {{ requests_per_minute = 100 }}

[users.frank]
token = "{FRANK}"
rate_limit = {{ requests_per_minute = 2 }}

[users.grace]
token = "{GRACE}"
budget = {{ daily_usd = 25 }}

[users.heidi]
token = "{HEIDI}"
"""
INSTANCES = 3
CHANGES = 100
# Issue 15's bound is 100 ms on loopback, which `make bench` checks on the release build
# (SWITCHYARD_PROPAGATION_P99_MS=100); the debug build on a busy 2-core machine gets more room.
PROPAGATION_P99_BOUND_MS = float(os.environ.get("SWITCHYARD_PROPAGATION_P99_MS", "500"))


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    with PostgresServer() as server:
        yield server


@pytest.fixture(scope="module")
def instances(postgres: PostgresServer, tmp_path_factory: pytest.TempPathFactory,
              request: pytest.FixtureRequest) -> Iterator[list[str]]:
    """Base URLs of three gateways on one database."""
    url = postgres.create_database("scale")
    with contextlib.ExitStack() as stack:
        urls = [stack.enter_context(start_gateway(SEED, tmp_path_factory.mktemp(f"instance{index}"), request.config,
                                                  database=url))
                for index in range(INSTANCES)]
        yield urls


def served_version(http: httpx.Client) -> str:
    response = chat(http, "split")
    assert response.status_code == 200, response.text
    return response.headers["x-switchyard-version"]


def test_a_split_changed_on_one_instance_is_routed_by_the_others(instances: list[str]) -> None:
    admins = [bearer_client(url, ADMIN_TOKEN) for url in instances]
    users = [bearer_client(url, ALICE) for url in instances]
    delays: list[float] = []
    for change in range(CHANGES):
        target = "v2" if change % 2 == 0 else "v1"
        weights = {"v1": 0, "v2": 100} if target == "v2" else {"v1": 100, "v2": 0}
        writer, reader = change % INSTANCES, (change + 1) % INSTANCES
        response = admins[writer].put("/api/models/split/split", json={"weights": weights})
        assert response.status_code == 200, response.text
        changed_at = time.monotonic()
        while served_version(users[reader]) != target:
            assert time.monotonic() - changed_at < 5, f"instance {reader} still routes by the old split after 5 s"
        delays.append(time.monotonic() - changed_at)
        # The third instance too, and every one of them keeps to the new split.
        third = (change + 2) % INSTANCES
        deadline = time.monotonic() + 5
        while served_version(users[third]) != target:
            assert time.monotonic() < deadline, f"instance {third} still routes by the old split after 5 s"
        assert {served_version(users[reader]) for _ in range(5)} == {target}
    p50 = statistics.median(delays) * 1000
    p99 = statistics.quantiles(delays, n=100)[98] * 1000
    report = Path(__file__).resolve().parents[2] / ".build" / "bench" / "propagation.md"
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(
        f"| binary | changes | p50 ms | p99 ms | max ms |\n|---|---|---|---|---|\n"
        f"| {os.environ.get('SWITCHYARD_BIN', 'debug')} | {CHANGES} | {p50:.1f} | {p99:.1f} | {max(delays) * 1000:.1f} |\n")
    print(f"\npropagation over {CHANGES} changes: p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {max(delays) * 1000:.1f} ms")
    assert p99 <= PROPAGATION_P99_BOUND_MS, f"p99 {p99:.1f} ms (p50 {p50:.1f} ms)"
    # The audit log, read on any instance, holds every change, whichever instance made it.
    audit = admins[2].get("/api/audit", params={"object": "model:split", "limit": 500})
    assert audit.status_code == 200, audit.text
    assert sum(1 for entry in audit.json()["entries"] if entry["action"] == "set_split") == CHANGES


def test_usage_on_any_instance_counts_the_requests_of_all(instances: list[str], postgres: PostgresServer) -> None:
    users = [bearer_client(url, BOB) for url in instances]
    for index in range(30):
        assert chat(users[index % INSTANCES], "split").status_code == 200
    admins = [bearer_client(url, ADMIN_TOKEN) for url in instances]
    for admin in admins:
        deadline = time.monotonic() + 5
        while True:
            rows = admin.get("/api/usage", params={"user": "bob"}).json()["rows"]
            if rows and rows[0]["requests"] == 30:
                break
            assert time.monotonic() < deadline, f"usage on {admin.base_url}: {rows}"
            time.sleep(0.1)
    # The operator's command reads the shared database too.
    report = subprocess.run([str(gateway_binary()), "usage", "--database", postgres.url("scale"), "--group-by", "user"],
                            capture_output=True, text=True, timeout=60)
    assert report.returncode == 0, report.stderr
    assert "bob\t30\t0\t" in report.stdout, report.stdout


def test_a_conversation_bound_on_one_instance_is_honoured_on_the_others(instances: list[str]) -> None:
    users = [bearer_client(url, ALICE) for url in instances]
    admins = [bearer_client(url, ADMIN_TOKEN) for url in instances]
    # "chat" draws its version anew for every request without a conversation (sticky = "none").
    first = chat(users[0], "chat", headers={"x-session-id": "conv-shared"})
    assert first.status_code == 200, first.text
    bound = first.headers["x-switchyard-version"]
    for admin in admins[1:]:
        deadline = time.monotonic() + 5
        while not admin.get("/api/routing/sessions/conv-shared").json().get("bindings"):
            assert time.monotonic() < deadline, f"the binding did not reach {admin.base_url}"
            time.sleep(0.02)
    # 20 requests on each other instance: unbound, each would draw v1 or v2 at random.
    for user in users[1:]:
        served = {chat(user, "chat", headers={"x-session-id": "conv-shared"}).headers["x-switchyard-version"] for _ in range(20)}
        assert served == {bound}
    unbound = {chat(users[1], "chat").headers["x-switchyard-version"] for _ in range(40)}
    assert unbound == {"v1", "v2"}, "without the conversation the draw is random (the test could fail)"


def test_instances_keep_serving_while_postgresql_is_down_and_catch_up_when_it_returns(
        instances: list[str], postgres: PostgresServer) -> None:
    users = [bearer_client(url, CAROL) for url in instances]
    admins = [bearer_client(url, ADMIN_TOKEN) for url in instances]
    postgres.crash()
    crashed_at = time.monotonic()
    try:
        for index in range(30):
            response = chat(users[index % INSTANCES], "split")
            assert response.status_code == 200, f"served from the snapshot while the database is down: {response.text}"
        # A limited user is counted by each instance on its own meanwhile, after one short wait at most.
        limited = bearer_client(instances[0], FRANK)
        asked_at = time.monotonic()
        statuses = [chat(limited, "split").status_code for _ in range(4)]
        assert statuses == [200, 200, 429, 429] and time.monotonic() - asked_at < 5, statuses
        refused = admins[0].put("/api/models/split/split", json={"weights": {"v1": 50, "v2": 50}})
        assert refused.status_code >= 500, "no configuration change without the database"
        assert time.monotonic() - crashed_at < 25, "the refusal came within the statement deadline"
    finally:
        postgres.restart()
    restarted_at = time.monotonic()
    # The outcomes queued meanwhile are written; every instance counts all of them.
    for admin in admins:
        deadline = time.monotonic() + 45
        while True:
            response = admin.get("/api/usage", params={"user": "carol"})
            rows = response.json().get("rows") if response.status_code == 200 else None
            if rows and rows[0]["requests"] == 30:
                break
            assert time.monotonic() < deadline, f"usage on {admin.base_url} after the database returned: {response.text}"
            time.sleep(0.2)
    # The listeners reconnected by themselves: a change on one instance is routed by another again.
    deadline = time.monotonic() + 45
    while (response := admins[0].put("/api/models/split/split", json={"weights": {"v1": 100, "v2": 0}})).status_code != 200:
        assert time.monotonic() < deadline, response.text
        time.sleep(0.2)
    reader = bearer_client(instances[1], ALICE)
    deadline = time.monotonic() + 10
    while served_version(reader) != "v1":
        assert time.monotonic() < deadline, "instance 1 did not follow the change after the database returned"
    print(f"\nrecovered {time.monotonic() - restarted_at:.1f} s after PostgreSQL returned")


def test_a_user_limit_is_exact_across_the_instances(instances: list[str]) -> None:
    # 300 requests within a minute, spread over the three instances and sent 12 at a time.
    clients = [bearer_client(url, DAVE) for url in instances]

    def send(index: int) -> httpx.Response:
        return chat(clients[index % INSTANCES], "chat")

    with ThreadPoolExecutor(max_workers=12) as pool:
        answers = list(pool.map(send, range(300)))
    statuses = [answer.status_code for answer in answers]
    assert statuses.count(200) == 100 and statuses.count(429) == 200, {code: statuses.count(code) for code in set(statuses)}
    admitted_per_instance = [sum(1 for i, a in enumerate(answers) if a.status_code == 200 and i % INSTANCES == n) for n in range(INSTANCES)]
    assert all(count > 0 for count in admitted_per_instance), admitted_per_instance
    refused = next(answer for answer in answers if answer.status_code == 429)
    assert refused.json()["error"]["code"] == "rate_limit_exceeded"
    assert 0 < int(refused.headers["retry-after"]) <= 60
    assert refused.headers["x-ratelimit-limit-requests"] == "100" and refused.headers["x-ratelimit-remaining-requests"] == "0"
    for client in clients:
        client.close()


# Longer than an outcome batch (250 ms) and its write: a finished request is counted by every instance.
COUNTED_AFTER_S = 0.8


def test_a_budget_spent_on_some_instances_is_refused_by_all(instances: list[str]) -> None:
    clients = [bearer_client(url, GRACE) for url in instances]
    spent = 0.0
    statuses = []
    for index in range(12):
        response = chat(clients[index % INSTANCES], "priced", text="ten tokens echoed back by the mock, $10.")
        statuses.append(response.status_code)
        if response.status_code != 200:
            break
        spent += response.json()["usage"]["completion_tokens"]  # 1 USD a completion token
        time.sleep(COUNTED_AFTER_S)
    refused = response
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "insufficient_quota", statuses
    # Refused once the spend of all instances together reached the cap, not each one's own.
    assert spent >= 25 and spent - 25 < spent / statuses.count(200), (spent, statuses)
    assert statuses.count(200) >= 2, "the spend came from more than one instance"
    for client in clients:
        answer = chat(client, "priced", text="ten tokens echoed back by the mock, $10.")
        assert answer.status_code == 429 and "daily budget" in answer.json()["error"]["message"], answer.text
        client.close()


def test_a_token_limit_counts_the_tokens_used_on_every_instance(instances: list[str]) -> None:
    admin = bearer_client(instances[0], ADMIN_TOKEN)
    clients = [bearer_client(url, HEIDI) for url in instances]
    first = chat(clients[0], "chat")
    assert first.status_code == 200, first.text
    per_request = first.json()["usage"]["total_tokens"]
    limit = 3 * per_request
    changed = admin.put("/api/users/heidi", json={"rate_limit": {"tokens_per_minute": limit}})
    assert changed.status_code == 200, changed.text
    time.sleep(COUNTED_AFTER_S)  # the change reaches every instance; the first request is counted
    used = per_request
    statuses = [200]
    for index in range(1, 12):
        response = chat(clients[index % INSTANCES], "chat")
        statuses.append(response.status_code)
        if response.status_code != 200:
            break
        used += response.json()["usage"]["total_tokens"]
        time.sleep(COUNTED_AFTER_S)
    # Counted per instance, each would admit about three of these: together they admit three in all.
    assert response.status_code == 429 and response.json()["error"]["type"] == "tokens", statuses
    assert response.headers["x-ratelimit-limit-tokens"] == str(limit) and 0 < int(response.headers["retry-after"]) <= 61
    assert used <= limit and statuses.count(200) <= 3, (used, limit, statuses)
    for client in clients:
        assert chat(client, "chat").status_code == 429
        client.close()
    admin.close()


def instance_pid(url: str) -> int:
    """The pid of the `switchyard serve` listening on `url`'s port."""
    listen = "127.0.0.1:" + url.rsplit(":", 1)[1]
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            arguments = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"serve" in arguments and listen.encode() in arguments:
            return int(entry)
    raise AssertionError(f"no switchyard serve on {listen}")


def controllers(admins: list[httpx.Client]) -> list[int]:
    return [index for index, admin in enumerate(admins) if admin.get("/api/system").json()["controller"]]


def test_one_controller_drives_a_rollout_and_another_continues_it_after_kill_9(instances: list[str], postgres: PostgresServer) -> None:
    """Last in this module: it kills one of the instances."""
    admins = [bearer_client(url, ADMIN_TOKEN) for url in instances]
    users = [bearer_client(url, ALICE) for url in instances]
    deadline = time.monotonic() + 10
    while len(controllers(admins)) != 1:
        assert time.monotonic() < deadline, f"controllers: {controllers(admins)}"
        time.sleep(0.1)
    controller = controllers(admins)[0]
    starter = (controller + 1) % INSTANCES
    response = admins[starter].post("/api/models/roll/rollouts", json={
        "canary": "v2",
        "steps": [{"set_weight": 10}, {"pause": "2s"}, {"set_weight": 40}, {"pause": "2s"}, {"set_weight": 70}, {"pause": "2s"}],
        "analysis": {"interval": "1s", "min_requests": 1, "max_error_rate_increase": 0.5},
    })
    assert response.status_code == 201, response.text
    rollout_id = response.json()["id"]

    def drive(alive: list[int], until: Callable[[dict[str, Any]], bool], timeout: float) -> dict[str, Any]:
        end = time.monotonic() + timeout
        while True:
            for index in alive:
                # A new end user each time: sticky by user, so the canary gets its share.
                assert chat(users[index], "roll", user=f"u{time.monotonic_ns()}").status_code == 200
            state = admins[alive[0]].get(f"/api/rollouts/{rollout_id}").json()
            if until(state):
                return state
            assert time.monotonic() < end, f"rollout stuck: {state['state']} step {state['current_step']} ({state.get('reason')})"
            time.sleep(0.05)

    drive(list(range(INSTANCES)), lambda state: state["current_step"] >= 2, timeout=20)
    os.kill(instance_pid(instances[controller]), signal.SIGKILL)
    killed_at = time.monotonic()
    survivors = [index for index in range(INSTANCES) if index != controller]
    while True:
        taken = [index for index in survivors if admins[index].get("/api/system").json()["controller"]]
        if taken:
            break
        assert time.monotonic() - killed_at < 5, ("no instance took over the controller role within 5 s: "
            + postgres.psql("scale", "SELECT l.objid, l.granted, a.pid, a.state, a.query, a.backend_start FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE l.locktype = 'advisory'")
            + " | " + postgres.psql("scale", "SELECT pid, state, query, backend_start FROM pg_stat_activity WHERE datname = 'scale'"))
        time.sleep(0.05)
    takeover = time.monotonic() - killed_at
    assert len(taken) == 1
    assert takeover <= 2.5, f"took over after {takeover:.2f} s (the election tries every second)"

    final = drive(survivors, lambda state: state["state"] in {"promoted", "aborted"}, timeout=30)
    assert final["state"] == "promoted", final
    # Each transition was made once, by one controller at a time: no step recorded twice.
    audit = admins[survivors[0]].get("/api/audit", params={"object": f"rollout:{rollout_id}", "limit": 500}).json()["entries"]
    transitions = [(entry["action"], entry["after"]["step"]) for entry in audit if entry["actor"] == "rollout"]
    assert transitions and len(transitions) == len(set(transitions)), transitions
