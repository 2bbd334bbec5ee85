"""The request path's cost by store: the same gateway on SQLite and on PostgreSQL (one instance on a
throwaway server), for a user without limits, for one with a request limit (high enough never to
refuse: every admission is the round trip to the database) and for one with a token limit and a budget. Each row: 3,000 sequential requests on
one keep-alive connection after 300 to warm up (`switchyard-load requests`: exact percentiles), to
the built-in mock, so the gateway's own time is what differs.

Run: SWITCHYARD_BIN=.build/release/switchyard LOAD_BIN=.build/release/switchyard-load \
     .build/venv/bin/python bench/store_modes.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT / "Tests" / "e2e"))
from failover import Gateway  # noqa: E402
from postgres_server import PostgresServer  # noqa: E402

FREE, LIMITED, LIGHT, METERED = "sk-store-bench-free", "sk-store-bench-limited", "sk-store-bench-light", "sk-store-bench-metered"
SEED = f"""\
[settings]
health_check_interval_seconds = 0

[providers.mock]
format = "mock"

[models.chat]
backends = [ {{ provider = "mock", model = "echo" }} ]

[users.free]
token = "{FREE}"

[users.limited]
token = "{LIMITED}"
rate_limit = {{ requests_per_minute = 1000000 }}

[users.light]
token = "{LIGHT}"
rate_limit = {{ requests_per_minute = 100 }}

[users.metered]
token = "{METERED}"
rate_limit = {{ tokens_per_minute = 1000000000 }}
budget = {{ monthly_usd = 1000000 }}
"""
BODY = json.dumps({"model": "chat", "messages": [{"role": "user", "content": "Say hello in five words."}]})


def measure(load: str, url: str, token: str, count: int = 3000, warmup: int = 300) -> dict:
    output = subprocess.run(
        [load, "requests", "--url", f"{url}/v1/chat/completions", "--token", token, "--body", BODY, "--count", str(count),
         "--warmup", str(warmup)], check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    load = os.environ.get("LOAD_BIN", str(ROOT / ".build/release/switchyard-load"))
    rows = []
    with tempfile.TemporaryDirectory(prefix="switchyard-store-bench-") as directory, PostgresServer() as postgres:
        for store, database in (("SQLite", None), ("PostgreSQL", postgres.create_database("bench"))):
            gateway = Gateway(SEED, Path(directory) / store, database=database)
            try:
                for label, token in (("no limit", FREE), ("request limit", LIMITED)):
                    result = measure(load, gateway.url, token)
                    rows.append((store, label if token == FREE else label + " (window up to 3,300)", result["latency_us"]))
                # A user whose window holds at most 100 admissions: what a typical limit costs.
                result = measure(load, gateway.url, LIGHT, count=90, warmup=10)
                rows.append((store, "request limit (window up to 100)", result["latency_us"]))
                result = measure(load, gateway.url, METERED)
                rows.append((store, "token limit and budget", result["latency_us"]))
            finally:
                gateway.stop()
    print("| store | user | p50 µs | p90 µs | p99 µs | mean µs |")
    print("|---|---|---|---|---|---|")
    for store, label, latency in rows:
        print(f"| {store} | {label} | {latency['p50']} | {latency['p90']} | {latency['p99']} | {latency['mean']} |")


if __name__ == "__main__":
    main()
