"""Soak: SOAK_MINUTES (default 30) of mixed load on the release build, then the books are checked.

Load: plain and streamed chat, embeddings, a canary rollout ramping to promotion over and over, a
rollout of a bad canary rolling back over and over, a running experiment, an admin change every
3 s, a seed reload every minute, and an upstream that fails 5 % of requests (HTTP 500), cuts 1 %
of streams and stalls 1 %. Every injected fault is remembered by the request id the gateway
passes on.

Checked at the end (exit status 1 when a check fails):
- every 5xx answer and every stream that ended in an error event belongs to an injected fault;
- no request failed on the client's side (timeout, reset);
- RSS and open file descriptors of the gateway are flat after warm-up (slope reported);
- the request log holds exactly one row per answered request;
- `PRAGMA integrity_check` is ok.

Run: SWITCHYARD_BIN=dist/switchyard .build/venv/bin/python bench/soak.py   (or `make soak`)
Everything listens on 127.0.0.1; every loop ends with the soak.
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "Tests" / "e2e"))
sys.path.insert(0, str(ROOT / "bench"))
import fault_upstream  # noqa: E402
from failover import Gateway  # noqa: E402

MINUTES = float(os.environ.get("SOAK_MINUTES", "30"))
DURATION = MINUTES * 60
WARMUP = min(300.0, DURATION / 6)
WORKERS = 6
PAUSE_BETWEEN_REQUESTS = 0.02
ADMIN = "soak-admin-token"
TOKEN = "sk-soak-user-1"
ADMIN_HEADERS = {"Authorization": f"Bearer {ADMIN}"}
USER_HEADERS = {"Authorization": f"Bearer {TOKEN}"}
RSS_SLOPE_LIMIT_MB_PER_HOUR = 16
FD_RANGE_LIMIT = 32

fault_upstream.STALL_SECONDS = 2.0


class SoakHandler(fault_upstream._FaultHandler):
    """`mixed-*` models fail 5 %, cut 1 % of streams and stall 1 %; `bad` fails half the time."""

    def _dispatch(self, model: str, stream: bool, body: dict) -> None:
        request_id = self.headers.get("x-request-id", "")
        roll = random.random()
        if model == "bad" and roll < 0.5 or model.startswith("mixed") and roll < 0.05:
            self.server.upstream.injected(request_id)
            self._send_openai_error(500, f"{model}: injected server error", "server_error", None)
        elif model.startswith("mixed") and roll < 0.06:
            self.server.upstream.injected(request_id)
            self._drop(model, stream)
        elif model.startswith("mixed") and roll < 0.07:
            self.server.upstream.injected(request_id)
            self._stall(model, stream)
        else:
            self._answer(model, stream, body)


class SoakUpstream(fault_upstream.FaultUpstream):
    handler_class = SoakHandler

    def __init__(self) -> None:
        super().__init__()
        self.faults: set[str] = set()
        self.lock = threading.Lock()

    def injected(self, request_id: str) -> None:
        with self.lock:
            self.faults.add(request_id)


def seed(upstream_url: str, timeout: int) -> str:
    return f"""
# soak seed, reloaded every minute
[server]
admin_token = "{ADMIN}"

[settings]
request_timeout_seconds = {timeout}
health_check_interval_seconds = 0
max_retries = 0

[providers.up]
format = "openai"
base_url = "{upstream_url}"
health_check = "none"

[providers.demo]
format = "mock"

[models.chat]
sticky = "none"
[models.chat.versions.v1]
weight = 100
default = true
backends = [ {{ provider = "up", model = "mixed-v1" }} ]
[models.chat.versions.v2]
weight = 0
backends = [ {{ provider = "up", model = "mixed-v2" }} ]

[models.risky]
sticky = "none"
[models.risky.versions.v1]
weight = 100
default = true
backends = [ {{ provider = "up", model = "ok-risky" }} ]
[models.risky.versions.v2]
weight = 0
backends = [ {{ provider = "up", model = "bad" }} ]

[models.exp]
sticky = "none"
[models.exp.versions.a]
weight = 50
default = true
backends = [ {{ provider = "up", model = "mixed-a" }} ]
[models.exp.versions.b]
weight = 50
backends = [ {{ provider = "up", model = "mixed-b" }} ]

[models.embed]
backends = [ {{ provider = "demo", model = "e" }} ]

[users.soak]
token = "{TOKEN}"

[users.other]
token = "sk-soak-other-1"
"""


class Books:
    """What the clients saw, shared by the worker threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.answered = 0
        self.by_status: dict[int, int] = {}
        self.failed_ids: list[tuple[str, str]] = []  # (request id, what)
        self.stream_errors = 0
        self.client_errors: list[str] = []
        self.admin_failures: list[str] = []
        self.reloads = 0
        self.rollouts = {"promoted": 0, "aborted": 0}

    def answer(self, status: int, request_id: str, failure: str | None) -> None:
        with self.lock:
            self.answered += 1
            self.by_status[status] = self.by_status.get(status, 0) + 1
            if failure:
                self.failed_ids.append((request_id, failure))


def worker(gateway_url: str, books: Books, stop: threading.Event, seed_value: int) -> None:
    chooser = random.Random(seed_value)
    with httpx.Client(base_url=gateway_url, timeout=30, trust_env=False) as client:
        while not stop.is_set():
            request_id = uuid.uuid4().hex[:24]
            headers = {**USER_HEADERS, "x-request-id": request_id}
            roll = chooser.random()
            model = "chat" if roll < 0.7 else "risky" if roll < 0.8 else "exp" if roll < 0.9 else "embed"
            stream = model != "embed" and chooser.random() < 0.4
            try:
                if model == "embed":
                    response = client.post("/v1/embeddings", headers=headers, json={"model": "embed", "input": "soak"})
                    books.answer(response.status_code, request_id, f"HTTP {response.status_code}" if response.status_code >= 500 else None)
                elif stream:
                    body = {"model": model, "stream": True, "messages": [{"role": "user", "content": "soak"}]}
                    with client.stream("POST", "/v1/chat/completions", headers=headers, json=body) as response:
                        text = "".join(response.iter_text())
                    failure = None
                    if response.status_code >= 500:
                        failure = f"HTTP {response.status_code}"
                    elif response.status_code == 200 and ('data: {"error"' in text or "data: [DONE]" not in text):
                        failure = "stream error event"
                        with books.lock:
                            books.stream_errors += 1
                    books.answer(response.status_code, request_id, failure)
                else:
                    response = client.post("/v1/chat/completions", headers=headers,
                                           json={"model": model, "messages": [{"role": "user", "content": "soak"}]})
                    books.answer(response.status_code, request_id, f"HTTP {response.status_code}" if response.status_code >= 500 else None)
            except httpx.HTTPError as error:
                with books.lock:
                    books.client_errors.append(f"{request_id} {model} stream={stream}: {type(error).__name__}: {error}")
            time.sleep(PAUSE_BETWEEN_REQUESTS)


def admin(gateway_url: str, books: Books, stop: threading.Event) -> None:
    """An admin change every 3 s, and the rollouts kept going."""
    chat_steps = {"steps": [{"set_weight": 10}, {"pause": "60s"}, {"set_weight": 50}, {"pause": "60s"}],
                  "analysis": {"interval": "10s", "min_requests": 20, "max_error_rate_increase": 0.1, "failure_limit": 3}}
    risky_steps = {"steps": [{"set_weight": 20}, {"pause": "5m"}],
                   "analysis": {"interval": "10s", "min_requests": 20, "max_error_rate_increase": 0.05, "failure_limit": 2}}
    round_number = 0
    started: dict[str, str] = {}  # model -> the id of the rollout this loop started last
    with httpx.Client(base_url=gateway_url, timeout=30, trust_env=False, headers=ADMIN_HEADERS) as client:
        def call(method: str, path: str, **kwargs) -> httpx.Response:
            response = client.request(method, path, **kwargs)
            if response.status_code >= 500:
                with books.lock:
                    books.admin_failures.append(f"{method} {path}: {response.status_code} {response.text[:200]}")
            return response

        experiment = call("POST", "/api/experiments", json={
            "name": "soak", "model": "exp", "control": "a",
            "variants": [{"id": "a", "version": "a"}, {"id": "b", "version": "b"}]}).json()
        call("POST", f"/api/experiments/{experiment['id']}/start")
        while not stop.wait(3):
            round_number += 1
            for model, steps in (("chat", chat_steps), ("risky", risky_steps)):
                release = call("GET", f"/api/models/{model}/release").json()
                if release.get("rollout") is not None:
                    continue
                if started.get(model):
                    finished = call("GET", f"/api/rollouts/{started.pop(model)}").json()
                    if finished.get("state") in books.rollouts:
                        books.rollouts[finished["state"]] += 1
                canary = next(version["name"] for version in release["versions"] if version["name"] != release["default"])
                created = call("POST", f"/api/models/{model}/rollouts", json={"canary": canary, **steps})
                if created.status_code in (200, 201):
                    started[model] = created.json()["id"]
            change = round_number % 4
            if change == 0:
                call("PUT", "/api/users/other", json={"tags": [f"round-{round_number}"]})
            elif change == 1:
                created = call("POST", "/api/providers", json={"id": f"tmp{round_number}", "format": "mock"})
                if created.status_code in (200, 201):
                    call("DELETE", f"/api/providers/tmp{round_number}")
            elif change == 2:
                call("PUT", "/api/settings", json={"circuit_breaker_timeout_seconds": 10 + round_number % 5})
            else:
                call("GET", "/api/audit?limit=50")
                call("GET", f"/api/experiments/{experiment['id']}/results")
        call("POST", f"/api/experiments/{experiment['id']}/complete")


def reloader(gateway_url: str, seed_path: Path, upstream_url: str, books: Books, stop: threading.Event) -> None:
    with httpx.Client(base_url=gateway_url, timeout=30, trust_env=False, headers=ADMIN_HEADERS) as client:
        minute = 0
        while not stop.wait(60):
            minute += 1
            seed_path.write_text(seed(upstream_url, 20 + minute % 2))
            response = client.post("/api/config/reload")
            if response.status_code != 200 or response.json().get("result") not in ("applied", "unchanged"):
                with books.lock:
                    books.admin_failures.append(f"reload: {response.status_code} {response.text[:300]}")
            books.reloads += 1


def memory_mb(pid: int) -> dict[str, float]:
    """VmRSS and its parts: RssAnon (heap, stacks) and RssFile (mapped files: the binary, the database)."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "RssAnon", "RssFile"):
            fields[name] = int(value.split()[0]) / 1024
    return fields


def sqlite_mb(gateway_url: str) -> float:
    """SQLite's own heap (page caches, statements): `switchyard_sqlite_memory_bytes` from /metrics."""
    try:
        text = httpx.get(f"{gateway_url}/metrics", timeout=10, trust_env=False).text
    except httpx.HTTPError:
        return float("nan")
    line = next((line for line in text.splitlines() if line.startswith("switchyard_sqlite_memory_bytes ")), "x nan")
    return float(line.split()[1]) / 1024 / 1024


def sampler(pid: int, gateway_url: str, samples: list[tuple[float, float, int]], parts: list[tuple[float, float, float, float]],
            started: float, stop: threading.Event) -> None:
    while True:
        memory = memory_mb(pid)
        fds = len(os.listdir(f"/proc/{pid}/fd"))
        samples.append((time.monotonic() - started, memory["VmRSS"], fds))
        parts.append((time.monotonic() - started, memory["RssAnon"], memory["RssFile"], sqlite_mb(gateway_url)))
        if stop.wait(10):
            return


def slope_per_hour(points: list[tuple[float, float]]) -> float:
    if len(points) < 2:
        return 0.0
    mean_t = sum(t for t, _ in points) / len(points)
    mean_v = sum(v for _, v in points) / len(points)
    numerator = sum((t - mean_t) * (v - mean_v) for t, v in points)
    denominator = sum((t - mean_t) ** 2 for t, _ in points) or 1
    return numerator / denominator * 3600


def main() -> int:
    workdir = Path(tempfile.mkdtemp(prefix="switchyard-soak-"))
    upstream = SoakUpstream()
    upstream.start()
    gateway = Gateway(seed(upstream.base_url, 20), workdir)
    books = Books()
    samples: list[tuple[float, float, int]] = []
    parts: list[tuple[float, float, float, float]] = []
    stop, stop_sampling = threading.Event(), threading.Event()
    started = time.monotonic()
    threads = [threading.Thread(target=worker, args=(gateway.url, books, stop, index)) for index in range(WORKERS)]
    threads += [threading.Thread(target=admin, args=(gateway.url, books, stop)),
                threading.Thread(target=reloader, args=(gateway.url, workdir / "seed.toml", upstream.base_url, books, stop))]
    sampling = threading.Thread(target=sampler, args=(gateway.process.pid, gateway.url, samples, parts, started, stop_sampling))
    print(f"soak: {MINUTES:g} minutes against {os.environ.get('SWITCHYARD_BIN')} in {workdir}", flush=True)
    for thread in threads + [sampling]:
        thread.start()
    try:
        while time.monotonic() - started < DURATION:
            time.sleep(min(60, DURATION - (time.monotonic() - started)))
            _, rss, fds = samples[-1]
            _, anon, mapped, sqlite = parts[-1]
            print(f"  {int((time.monotonic() - started) / 60)} min: {books.answered} answered, RSS {rss:.1f} MB "
                  f"(anonymous {anon:.1f} of which SQLite {sqlite:.1f}, files {mapped:.1f}), {fds} fds", flush=True)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
        time.sleep(2)
        stop_sampling.set()
        sampling.join(timeout=20)
        gateway.stop()
        upstream.stop()

    with sqlite3.connect(workdir / "bench.db") as database:
        logged = database.execute("SELECT COUNT(*) FROM request_log").fetchone()[0]
        integrity = database.execute("PRAGMA integrity_check").fetchone()[0]
    unexpected = [(request_id, what) for request_id, what in books.failed_ids if request_id not in upstream.faults]
    after = [(t, rss, fds) for t, rss, fds in samples if t >= WARMUP]
    rss_slope = slope_per_hour([(t, rss) for t, rss, _ in after])
    fd_slope = slope_per_hour([(t, fds) for t, _, fds in after])
    anon_slope = slope_per_hour([(t, anon) for t, anon, _, _ in parts if t >= WARMUP])
    file_slope = slope_per_hour([(t, mapped) for t, _, mapped, _ in parts if t >= WARMUP])
    sqlite_slope = slope_per_hour([(t, sqlite) for t, _, _, sqlite in parts if t >= WARMUP and sqlite == sqlite])
    fd_range = max(fds for _, _, fds in after) - min(fds for _, _, fds in after) if after else 0
    checks = {
        "5xx and stream errors all injected": not unexpected,
        "no client-side failures": not books.client_errors,
        "no admin or reload failures": not books.admin_failures,
        f"RSS slope after warm-up <= {RSS_SLOPE_LIMIT_MB_PER_HOUR} MB/h": rss_slope <= RSS_SLOPE_LIMIT_MB_PER_HOUR,
        f"open fds within {FD_RANGE_LIMIT} after warm-up": fd_range <= FD_RANGE_LIMIT,
        "request_log rows = answered requests": logged == books.answered,
        "integrity_check ok": integrity == "ok",
    }
    lines = [
        f"## Soak: {MINUTES:g} minutes (`make soak`, SOAK_MINUTES={MINUTES:g})", "",
        "| figure | value |", "|---|---|",
        f"| requests answered | {books.answered} ({books.answered / DURATION:.0f}/s) |",
        f"| by status | {', '.join(f'{status}: {count}' for status, count in sorted(books.by_status.items()))} |",
        f"| faults injected by the upstream | {len(upstream.faults)} |",
        f"| 5xx answers + stream error events seen | {len(books.failed_ids)} ({books.stream_errors} stream error events) |",
        f"| of them not from an injected fault | {len(unexpected)} |",
        f"| client-side failures | {len(books.client_errors)} |",
        f"| rollouts finished | {books.rollouts['promoted']} promoted, {books.rollouts['aborted']} aborted |",
        f"| seed reloads | {books.reloads} |",
        f"| RSS first / after warm-up / last | {samples[0][1]:.1f} / {after[0][1] if after else 0:.1f} / {samples[-1][1]:.1f} MB |",
        f"| RSS slope after warm-up ({WARMUP / 60:g} min) | {rss_slope:+.2f} MB/hour "
        f"(anonymous {anon_slope:+.2f}, of which SQLite's heap {sqlite_slope:+.2f}; mapped files {file_slope:+.2f}) |",
        f"| open fds after warm-up: min / max, slope | {min(f for _, _, f in after) if after else 0} / "
        f"{max(f for _, _, f in after) if after else 0}, {fd_slope:+.2f}/hour |",
        f"| request_log rows | {logged} |",
        f"| integrity_check | {integrity} |", "",
    ]
    lines += [f"- {'ok' if passed else 'FAILED'}: {name}" for name, passed in checks.items()]
    for label, items in (("unexpected", unexpected), ("client errors", books.client_errors), ("admin failures", books.admin_failures)):
        lines += [f"  - {label}: {item}" for item in items[:10]]
    report = "\n".join(lines)
    print(report)
    output = ROOT / ".build" / "bench"
    output.mkdir(parents=True, exist_ok=True)
    (output / "soak.md").write_text(report + "\n")
    (output / "soak-memory.csv").write_text("seconds,rss_mb,anonymous_mb,sqlite_mb,files_mb,fds\n" + "".join(
        f"{t:.0f},{rss:.1f},{anon:.1f},{sqlite:.1f},{mapped:.1f},{fds}\n"
        for (t, rss, fds), (_, anon, mapped, sqlite) in zip(samples, parts)))
    (output / "soak-samples.json").write_text(json.dumps(samples))
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
