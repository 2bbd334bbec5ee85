"""Time from saving the seed file to the change serving: 20 saves, each adding a model, written the
way editors save (a temporary file renamed over the seed); the clock stops when the new model is
listed by /v1/models (polled every 2 ms). The watcher waits 150 ms for a save to settle.

Run: SWITCHYARD_BIN=.build/release/switchyard .build/venv/bin/python bench/reload_timing.py
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from failover import Gateway, percentile  # noqa: E402

USER_TOKEN = "sk-reload-bench-user"
SAVES = 20


def seed(models: int) -> str:
    text = f"""\
[settings]
health_check_interval_seconds = 0

[providers.mock]
format = "mock"

[users.bench]
token = "{USER_TOKEN}"
"""
    for index in range(models + 1):
        text += f'\n[models.m{index}]\nbackends = [ {{ provider = "mock", model = "m{index}" }} ]\n'
    return text


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="switchyard-reload-bench-") as directory:
        workdir = Path(directory)
        gateway = Gateway(seed(0), workdir)
        seed_path = workdir / "seed.toml"
        client = httpx.Client(base_url=gateway.url, headers={"Authorization": f"Bearer {USER_TOKEN}"}, trust_env=False, timeout=5)
        timings = []
        try:
            for save in range(1, SAVES + 1):
                temporary = workdir / ".seed.toml.tmp"
                temporary.write_text(seed(save))
                started = time.perf_counter()
                os.replace(temporary, seed_path)
                while f"m{save}" not in {model["id"] for model in client.get("/v1/models").json()["data"]}:
                    if time.perf_counter() - started > 5:
                        raise SystemExit(f"save {save} not applied within 5 s")
                    time.sleep(0.002)
                timings.append((time.perf_counter() - started) * 1000)
                time.sleep(0.3)
        finally:
            gateway.stop()
    print("### Seed save to effect")
    print()
    print(f"{SAVES} saves by rename, each adding a model; time until /v1/models lists it.")
    print()
    print("| p50 ms | p90 ms | max ms | mean ms |")
    print("|---|---|---|---|")
    print(f"| {percentile(timings, 0.5):.0f} | {percentile(timings, 0.9):.0f} | {max(timings):.0f} | {statistics.mean(timings):.0f} |")


if __name__ == "__main__":
    main()
