"""Measures how fast releases move traffic, against the built gateway and its mock provider.

1. Latency of the rollback API call (`POST /api/models/{model}/rollback`), alternating targets.
2. From the rollback call returning to the first request served by the target version: the delay
   and how many requests in between the old version still served (expected: none).
3. How many requests a bad canary (mock error_rate 0.9 against a stable version with 0) serves
   before the rollout aborts it automatically at the DEFAULT analysis settings (interval 30 s,
   min_requests 50, max_error_rate_increase 0.05, failure_limit 2), at a 10 % canary share and a
   steady ~50 requests/s from distinct end users; bounded to 120 s. Once with the circuit breaker
   effectively off (the analysis alone protects users), once with the default breaker settings.

Run: SWITCHYARD_BIN=.build/release/switchyard .build/venv/bin/python bench/release_timing.py
Everything listens on 127.0.0.1; every loop is bounded. RELEASE_SKIP_BREAKER=1 skips the second
run of part 3.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "Tests" / "e2e"))
from failover import Gateway, percentile  # noqa: E402

TOKEN = "sk-bench-releases"
ADMIN = "bench-admin"
ADMIN_HEADERS = {"Authorization": f"Bearer {ADMIN}"}
USER_HEADERS = {"Authorization": f"Bearer {TOKEN}"}
VERSION_HEADER = "x-switchyard-version"

ROLLBACKS = int(os.environ.get("RELEASE_ROLLBACKS", "50"))
MAX_REQUESTS_UNTIL_TARGET = 100
CANARY_RATE_PER_SECOND = 50
CANARY_SHARE_PERCENT = 10
CANARY_BOUND_SECONDS = 120
MAX_IN_FLIGHT = 64

BREAKER_OFF = """
circuit_breaker_failure_threshold = 10000
circuit_breaker_error_rate_threshold = 1.0
circuit_breaker_window = 10000
"""


def seed(breaker: str) -> str:
    return f"""
[server]
admin_token = "{ADMIN}"

[settings]
max_retries = 0
health_check_interval_seconds = 0
{breaker}

[providers.mock]
format = "mock"

[models.flip.versions.v1]
weight = 100
default = true
backends = [ {{ provider = "mock", model = "flip-v1" }} ]
[models.flip.versions.v2]
weight = 0
backends = [ {{ provider = "mock", model = "flip-v2" }} ]

[models.canary.versions.v1]
weight = 100
default = true
backends = [ {{ provider = "mock", model = "stable", mock = {{ error_rate = 0 }} }} ]
[models.canary.versions.v2]
weight = 0
backends = [ {{ provider = "mock", model = "bad", mock = {{ error_rate = 0.9, seed = 7 }} }} ]

[users.bench]
token = "{TOKEN}"
"""


def chat_body(model: str, user: str) -> dict:
    return {"model": model, "messages": [{"role": "user", "content": "hi"}], "user": user}


def served_by(client: httpx.Client, url: str, model: str) -> str:
    response = client.post(f"{url}/v1/chat/completions", headers=USER_HEADERS,
                           json=chat_body(model, f"u-{uuid.uuid4().hex[:12]}"))
    if VERSION_HEADER not in response.headers:
        raise SystemExit(f"{model}: HTTP {response.status_code} {response.text}")
    return response.headers[VERSION_HEADER]


# ---------------------------------------------------------------------------
# 1 and 2: rollback
# ---------------------------------------------------------------------------


def measure_rollback(workdir: Path) -> None:
    gateway = Gateway(seed(BREAKER_OFF), workdir / "rollback")
    call_ms: list[float] = []
    switch_ms: list[float] = []
    old_served: list[int] = []
    try:
        with httpx.Client(timeout=10, trust_env=False) as client:
            for _ in range(20):  # warm up connections and code paths
                served_by(client, gateway.url, "flip")
            for target in ("v2", "v1"):
                client.post(f"{gateway.url}/api/models/flip/rollback", headers=ADMIN_HEADERS, json={"to": target})
            for index in range(ROLLBACKS):
                target, old = ("v2", "v1") if index % 2 == 0 else ("v1", "v2")
                started = time.perf_counter()
                response = client.post(f"{gateway.url}/api/models/flip/rollback", headers=ADMIN_HEADERS,
                                       json={"to": target})
                returned = time.perf_counter()
                if response.status_code != 200 or response.json()["split"][target] != 100:
                    raise SystemExit(f"rollback to {target}: HTTP {response.status_code} {response.text}")
                call_ms.append((returned - started) * 1000)
                olds = 0
                for _ in range(MAX_REQUESTS_UNTIL_TARGET):
                    version = served_by(client, gateway.url, "flip")
                    if version == target:
                        break
                    if version != old:
                        raise SystemExit(f"unexpected version {version}")
                    olds += 1
                else:
                    raise SystemExit(f"no request served by {target} within {MAX_REQUESTS_UNTIL_TARGET} requests")
                switch_ms.append((time.perf_counter() - returned) * 1000)
                old_served.append(olds)
    finally:
        gateway.stop()
    print(f"## Rollback, {ROLLBACKS} calls alternating v1 and v2 (sequential, one client)\n")
    print("| measurement | p50 ms | p90 ms | p99 ms | max ms |")
    print("|---|---|---|---|---|")
    for name, values in (("`POST /rollback` call latency", call_ms),
                         ("call returned -> first response served by the target", switch_ms)):
        print(f"| {name} | {statistics.median(values):.2f} | {percentile(values, 0.9):.2f} | "
              f"{percentile(values, 0.99):.2f} | {max(values):.2f} |")
    print(f"\nrequests served by the old version after the call returned: {sum(old_served)} in total over "
          f"{ROLLBACKS} rollbacks (max {max(old_served)} after one rollback; expected 0)\n")


# ---------------------------------------------------------------------------
# 3: automatic abort of a bad canary at the default analysis settings
# ---------------------------------------------------------------------------


async def bad_canary_run(url: str) -> dict:
    async with httpx.AsyncClient(base_url=url, timeout=30, trust_env=False,
                                 limits=httpx.Limits(max_connections=MAX_IN_FLIGHT)) as client:
        response = await client.post("/api/models/canary/rollouts", headers=ADMIN_HEADERS, json={
            "canary": "v2", "steps": [{"set_weight": CANARY_SHARE_PERCENT}, {"pause": {}}]})
        if response.status_code != 201:
            raise SystemExit(f"start rollout: HTTP {response.status_code} {response.text}")
        rollout = response.json()
        analysis = rollout["analysis"]
        counts = {"sent": 0, "v1": 0, "v2": 0, "v2_errors": 0, "v2_after_abort": 0, "failed": 0}
        aborted_at: list[float] = []  # wall clock, from the rollout's updated_at
        semaphore = asyncio.Semaphore(MAX_IN_FLIGHT)
        state = rollout

        async def one(index: int) -> None:
            async with semaphore:
                sent_at = time.time()
                try:
                    answer = await client.post("/v1/chat/completions", headers=USER_HEADERS,
                                               json=chat_body("canary", f"load-{index}-{uuid.uuid4().hex[:8]}"))
                except httpx.HTTPError:
                    counts["failed"] += 1
                    return
                version = answer.headers.get(VERSION_HEADER, "?")
                counts[version] = counts.get(version, 0) + 1
                if version == "v2":
                    counts["v2_errors"] += answer.status_code >= 500
                    if aborted_at and sent_at > aborted_at[0]:
                        counts["v2_after_abort"] += 1

        async def watch() -> None:
            nonlocal state
            while True:
                await asyncio.sleep(0.5)
                state = (await client.get(f"/api/rollouts/{rollout['id']}", headers=ADMIN_HEADERS)).json()
                if state["state"] in ("aborted", "promoted"):
                    aborted_at.append(state["updated_at"])
                    return

        watcher = asyncio.create_task(watch())
        tasks: set[asyncio.Task] = set()
        started = time.monotonic()
        index = 0
        # Keep sending for 3 s past the abort, to see that no request reaches the canary any more.
        while time.monotonic() - started < CANARY_BOUND_SECONDS and index < CANARY_BOUND_SECONDS * CANARY_RATE_PER_SECOND:
            if watcher.done() and time.time() > aborted_at[0] + 3:
                break
            due = started + index / CANARY_RATE_PER_SECOND
            if (wait := due - time.monotonic()) > 0:
                await asyncio.sleep(wait)
            task = asyncio.create_task(one(index))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            counts["sent"] += 1
            index += 1
        wall = time.monotonic() - started
        await asyncio.gather(*tasks)
        if not watcher.done():
            watcher.cancel()
            state = (await client.get(f"/api/rollouts/{rollout['id']}", headers=ADMIN_HEADERS)).json()
        evaluations = state["evaluations"]
        return {
            "state": state["state"], "reason": state["reason"], "counts": counts, "analysis": analysis,
            "abort_after": (state["updated_at"] - state["created_at"]) if state["state"] == "aborted" else None,
            "wall": wall, "rate": counts["sent"] / wall,
            "evaluations": [(round(e["time"] - state["created_at"], 1), e["result"], e["canary"]["requests"],
                             e["canary"]["errors"], e["stable"]["requests"],
                             next((c["p_value"] for c in e["checks"] if c["name"] == "max_error_rate_increase"), None))
                            for e in evaluations],
        }


def measure_bad_canary(workdir: Path) -> None:
    runs = [("breaker effectively off", BREAKER_OFF)]
    if os.environ.get("RELEASE_SKIP_BREAKER") != "1":
        runs.append(("default circuit breaker", ""))
    results = []
    for name, breaker in runs:
        gateway = Gateway(seed(breaker), workdir / f"canary-{len(results)}")
        try:
            results.append((name, asyncio.run(bad_canary_run(gateway.url))))
        finally:
            gateway.stop()
    analysis = results[0][1]["analysis"]
    print(f"## Bad canary (error_rate 0.9 vs 0) at {CANARY_SHARE_PERCENT} %, ~{CANARY_RATE_PER_SECOND} requests/s "
          f"from distinct end users, default analysis, bounded to {CANARY_BOUND_SECONDS} s\n")
    print(f"analysis: interval {analysis['interval']}, window {analysis['window']}, min_requests "
          f"{analysis['min_requests']}, max_error_rate_increase {analysis['max_error_rate_increase']}, "
          f"significance {analysis['significance']}, failure_limit {analysis['failure_limit']}\n")
    print("| run | outcome | time to abort s | requests sent | achieved rate/s | served by canary (v2) | "
          "of which errors | v2 requests sent after the abort |")
    print("|---|---|---|---|---|---|---|---|")
    for name, result in results:
        counts = result["counts"]
        abort_after = f"{result['abort_after']:.1f}" if result["abort_after"] is not None else f"none in {result['wall']:.0f}"
        outcome = result["state"] + (f" ({result['reason']})" if result["reason"] else "")
        print(f"| {name} | {outcome} | {abort_after} | {counts['sent']} | {result['rate']:.1f} | {counts['v2']} | "
              f"{counts['v2_errors']} | {counts['v2_after_abort']} |")
    for name, result in results:
        print(f"\nEvaluations, {name}:\n")
        print("| at s | result | canary requests | canary errors | stable requests | p-value |")
        print("|---|---|---|---|---|---|")
        for at, outcome, canary, errors, stable, p_value in result["evaluations"]:
            p_text = "" if p_value is None else f"{p_value:.3g}"
            print(f"| {at} | {outcome} | {canary} | {errors} | {stable} | {p_text} |")
    print()


def main() -> None:
    with tempfile.TemporaryDirectory() as directory:
        workdir = Path(directory)
        measure_rollback(workdir)
        measure_bad_canary(workdir)


if __name__ == "__main__":
    main()
