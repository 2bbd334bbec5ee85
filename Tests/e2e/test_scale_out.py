"""Several gateways on one PostgreSQL database (docs/scale-out.md).

Three `switchyard serve` processes share one database on a throwaway PostgreSQL server
(postgres_server.py): a change made through any instance's admin API reaches the others'
routing through NOTIFY/LISTEN, and what each instance records is counted by all.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from conftest import ADMIN_TOKEN, bearer_client, chat, start_gateway
from postgres_server import PostgresServer, tool

pytestmark = pytest.mark.skipif(tool("initdb") is None, reason="PostgreSQL is not installed")

ALICE = "sk-alice-scale"
BOB = "sk-bob-scale"
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

[users.alice]
token = "{ALICE}"

[users.bob]
token = "{BOB}"
"""
INSTANCES = 3
CHANGES = 100
PROPAGATION_P99_BOUND_SECONDS = 0.1


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
        f"| changes | p50 ms | p99 ms | max ms |\n|---|---|---|---|\n"
        f"| {CHANGES} | {p50:.1f} | {p99:.1f} | {max(delays) * 1000:.1f} |\n")
    print(f"\npropagation over {CHANGES} changes: p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {max(delays) * 1000:.1f} ms")
    assert p99 <= PROPAGATION_P99_BOUND_SECONDS * 1000, f"p99 {p99:.1f} ms (p50 {p50:.1f} ms)"
    # The audit log, read on any instance, holds every change, whichever instance made it.
    audit = admins[2].get("/api/audit", params={"object": "model:split", "limit": 500})
    assert audit.status_code == 200, audit.text
    assert sum(1 for entry in audit.json()["entries"] if entry["action"] == "set_split") == CHANGES


def test_usage_on_any_instance_counts_the_requests_of_all(instances: list[str]) -> None:
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
