"""Measures what failover and recovery cost, against the built gateway and the test fault upstream.

1. Added latency of one failover: sequential requests to a model whose first backend refuses the
   connection (circuit breaker disabled, so every request fails over) against a model with only
   the healthy backend.
2. Recovery timeline of a backend back from an open circuit under `smart_weighted_failover`:
   how many requests each stage (30 %, 50 %, 100 % of its weight) lasted and what share it served.

Run: SWITCHYARD_BIN=.build/release/switchyard .build/venv/bin/python bench/failover.py
Everything listens on 127.0.0.1; every loop is bounded.
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "Tests" / "e2e"))
from fault_upstream import FaultState, FaultUpstream, closed_port  # noqa: E402

TOKEN = "sk-bench-failover"
SAMPLES = int(os.environ.get("FAILOVER_SAMPLES", "500"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def seed(upstream_url: str, dead_port: int) -> str:
    return f"""
[server]
admin_token = "bench-admin"

[settings]
max_retries = 1
health_check_interval_seconds = 0
circuit_breaker_failure_threshold = 10000   # section 1: never open, so every request fails over
circuit_breaker_error_rate_threshold = 1.0
circuit_breaker_window = 10000

[providers.up]
format = "openai"
base_url = "{upstream_url}"
[providers.dead]
format = "openai"
base_url = "http://127.0.0.1:{dead_port}/v1"

[models.direct]
backends = [ {{ provider = "up", model = "ok-direct" }} ]
[models.failover]
strategy = "failover"
backends = [ {{ provider = "dead", model = "x", priority = 1 }}, {{ provider = "up", model = "ok-after", priority = 2 }} ]

[users.bench]
token = "{TOKEN}"
"""


def recovery_seed(upstream_url: str) -> str:
    return f"""
[server]
admin_token = "bench-admin"

[settings]
max_retries = 1
health_check_interval_seconds = 0
circuit_breaker_failure_threshold = 3
circuit_breaker_timeout_seconds = 1

[providers.up]
format = "openai"
base_url = "{upstream_url}"

[models.recovery]
strategy = "smart_weighted_failover"
backends = [ {{ provider = "up", model = "flaky", weight = 1 }}, {{ provider = "up", model = "ok-steady", weight = 1 }} ]

[users.bench]
token = "{TOKEN}"
"""


class Gateway:
    def __init__(self, seed_text: str, workdir: Path, database: str | None = None) -> None:
        binary = os.environ.get("SWITCHYARD_BIN", str(ROOT / ".build/release/switchyard"))
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "seed.toml").write_text(seed_text)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(workdir / "gateway.log", "w")
        self.process = subprocess.Popen(
            [binary, "serve", "--config", str(workdir / "seed.toml"), "--listen", f"127.0.0.1:{self.port}",
             "--database", database or str(workdir / "bench.db"), "--log-level", "warning"],
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/health", timeout=1, trust_env=False).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        self.stop()
        raise SystemExit("gateway did not start")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
        self.log.close()


def chat(client: httpx.Client, url: str, model: str) -> tuple[float, str]:
    started = time.perf_counter()
    response = client.post(f"{url}/v1/chat/completions", headers={"Authorization": f"Bearer {TOKEN}"},
                           json={"model": model, "messages": [{"role": "user", "content": "hi"}]})
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise SystemExit(f"{model}: HTTP {response.status_code} {response.text}")
    return elapsed, response.headers["x-switchyard-backend"]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def measure_failover(upstream: FaultUpstream, workdir: Path) -> None:
    gateway = Gateway(seed(upstream.base_url, closed_port()), workdir / "failover")
    try:
        with httpx.Client(timeout=10) as client:
            for model in ("direct", "failover"):  # warm up connections
                for _ in range(20):
                    chat(client, gateway.url, model)
            direct, failover = [], []
            for _ in range(SAMPLES):  # interleaved so both see the same machine load
                direct.append(chat(client, gateway.url, "direct")[0])
                elapsed, backend = chat(client, gateway.url, "failover")
                assert backend == "up/ok-after", backend
                failover.append(elapsed)
    finally:
        gateway.stop()
    print(f"## Failover (first backend refuses the connection), {SAMPLES} sequential requests each\n")
    print("| model | p50 ms | p90 ms | p99 ms |")
    print("|---|---|---|---|")
    for name, values in (("healthy backend only", direct), ("refused, then healthy", failover)):
        print(f"| {name} | {statistics.median(values):.2f} | {percentile(values, 0.9):.2f} | {percentile(values, 0.99):.2f} |")
    print(f"\nadded latency of one failover: p50 {statistics.median(failover) - statistics.median(direct):.2f} ms, "
          f"p99 {percentile(failover, 0.99) - percentile(direct, 0.99):.2f} ms\n")


def measure_recovery(upstream: FaultUpstream, fault: FaultState, workdir: Path) -> None:
    gateway = Gateway(recovery_seed(upstream.base_url), workdir / "recovery")
    admin = {"Authorization": "Bearer bench-admin"}
    try:
        with httpx.Client(timeout=10) as client:
            fault.flaky_down = True
            for _ in range(20):
                chat(client, gateway.url, "recovery")
            fault.flaky_down = False
            time.sleep(1.2)  # past circuit_breaker_timeout_seconds: the next request may probe
            stages: dict[str, dict[str, int]] = {}
            order: list[str] = []
            for _ in range(400):
                weights = client.get(f"{gateway.url}/api/models/recovery/weights", headers=admin).json()
                flaky = next(b for b in weights["versions"][0]["backends"] if b["backend"] == "up/flaky")
                stage = f"{flaky['state']}, factor {flaky['recovery_factor']}"
                if stage not in stages:
                    stages[stage] = {"requests": 0, "flaky": 0}
                    order.append(stage)
                _, backend = chat(client, gateway.url, "recovery")
                stages[stage]["requests"] += 1
                stages[stage]["flaky"] += backend == "up/flaky"
                if stage.startswith("closed, factor 1") and stages[stage]["requests"] >= 100:
                    break
    finally:
        gateway.stop()
    print("## Recovery of a backend back from an open circuit (smart_weighted_failover, two backends of weight 1)\n")
    print("| stage (breaker, weight factor) | requests to the model | served by the recovering backend |")
    print("|---|---|---|")
    for stage in order:
        data = stages[stage]
        print(f"| {stage} | {data['requests']} | {data['flaky']} ({100 * data['flaky'] / data['requests']:.0f} %) |")
    print()


def main() -> None:
    fault = FaultState()
    with tempfile.TemporaryDirectory() as directory, FaultUpstream(fault_state=fault) as upstream:
        workdir = Path(directory)
        (workdir / "failover").mkdir()
        (workdir / "recovery").mkdir()
        measure_failover(upstream, workdir)
        measure_recovery(upstream, fault, workdir)


if __name__ == "__main__":
    main()
