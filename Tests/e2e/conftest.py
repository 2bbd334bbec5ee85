"""Fixtures for the Switchyard end-to-end tests.

One fake upstream and one gateway process are started per test module:

    upstream  -- FakeUpstream (see fake_upstream.py), OpenAI-compatible
    gateway   -- base URL of `switchyard serve` running on a seed config that
                 points its "up" provider at the fake upstream

The gateway binary is taken from $SWITCHYARD_BIN (default
.build/debug/switchyard, relative to the repository root).

Modules that need a gateway on a seed of their own (test_failover.py) start it
with `start_gateway`, which these fixtures use too.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import httpx
import openai
import pytest

from fake_upstream import FakeUpstream

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BIN = ".build/debug/switchyard"

ADMIN_TOKEN = "e2e-admin"
ALICE_TOKEN = "sk-alice-e2e"
BOB_TOKEN = "sk-bob-e2e"  # reaches the gateway via env:E2E_BOB_TOKEN
UPSTREAM_KEY = "sk-upstream-e2e"  # reaches the gateway via env:E2E_UPSTREAM_KEY
ALICE_MODELS = ("echo", "relay", "split", "tuned")

STARTUP_TIMEOUT_SECONDS = 60
SHUTDOWN_TIMEOUT_SECONDS = 10
CLIENT_TIMEOUT_SECONDS = 30
LOG_TAIL_CHARS = 6000

SEED_TEMPLATE = """\
[server]
admin_token = "{admin_token}"

[settings]
request_timeout_seconds = 30

[providers.demo]
format = "mock"

[providers.up]
format = "openai"
base_url = "{upstream_url}"
api_key = "env:E2E_UPSTREAM_KEY"
headers = {{ "X-Extra" = "yes" }}

[models.echo]
backends = [ {{ provider = "demo", model = "mock-echo", mock = {{ chunks = 4, ttft_ms = 10, latency_ms = 20, seed = 7 }} }} ]

[models.relay]
backends = [ {{ provider = "up", model = "gpt-upstream" }} ]

[models.split]
[models.split.versions.v1]
weight = 50
default = true
backends = [ {{ provider = "demo", model = "a" }} ]
[models.split.versions.v2]
weight = 50
params = {{ temperature = 0.2 }}
backends = [ {{ provider = "demo", model = "b" }} ]

[models.tuned]
[models.tuned.versions.v1]
weight = 100
default = true
params = {{ temperature = 0.3, max_tokens = 77 }}
backends = [ {{ provider = "up", model = "gpt-tuned" }} ]

[models.secret]
backends = [ {{ provider = "demo", model = "x" }} ]

[users.alice]
token = "{alice_token}"
allowed_models = [{alice_models}]

[users.bob]
token = "env:E2E_BOB_TOKEN"
"""

_GATEWAY_LOGS = pytest.StashKey[list]()


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


def gateway_binary() -> Path:
    path = Path(os.environ.get("SWITCHYARD_BIN") or DEFAULT_BIN)
    return path if path.is_absolute() else REPO_ROOT / path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def render_seed(upstream_url: str) -> str:
    return SEED_TEMPLATE.format(
        admin_token=ADMIN_TOKEN,
        upstream_url=upstream_url,
        alice_token=ALICE_TOKEN,
        alice_models=", ".join(f'"{m}"' for m in ALICE_MODELS),
    )


def read_tail(path: Path, limit: int = LOG_TAIL_CHARS) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "<unavailable>"
    return text if len(text) <= limit else "...\n" + text[-limit:]


def describe_logs(stdout: Path, stderr: Path) -> str:
    return f"--- stdout ---\n{read_tail(stdout)}\n--- stderr ---\n{read_tail(stderr)}"


def wait_until_healthy(process: subprocess.Popen, base_url: str, logs: Callable[[], str]) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    last_problem = "no attempt made"
    with httpx.Client(timeout=2, trust_env=False) as http:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(
                    f"switchyard exited with status {process.returncode} before "
                    f"becoming healthy\n{logs()}",
                    pytrace=False,
                )
            try:
                response = http.get(f"{base_url}/health")
                if response.status_code == 200:
                    return
                last_problem = f"/health answered {response.status_code}: {response.text[:200]}"
            except httpx.HTTPError as error:
                last_problem = f"{type(error).__name__}: {error}"
            time.sleep(0.2)
    pytest.fail(
        f"switchyard did not answer 200 on {base_url}/health within "
        f"{STARTUP_TIMEOUT_SECONDS}s (last: {last_problem})\n{logs()}",
        pytrace=False,
    )


def stop_process(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=SHUTDOWN_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=SHUTDOWN_TIMEOUT_SECONDS)


@contextlib.contextmanager
def start_gateway(seed: str, workdir: Path, config: pytest.Config,
                  env: Mapping[str, str] | None = None, port: int | None = None) -> Iterator[str]:
    """Run `switchyard serve` on `seed` until the block ends; yield its base URL.

    The seed, database and logs live in `workdir`; `env` is added to the
    process environment; `port` is chosen when not given. The logs are registered with `config` so that a
    failing test shows them (see pytest_runtest_makereport below).
    """
    binary = gateway_binary()
    if not (binary.is_file() and os.access(binary, os.X_OK)):
        pytest.fail(
            f"switchyard binary not found or not executable at {binary}; build it "
            f"first (swift build) or point SWITCHYARD_BIN at it",
            pytrace=False,
        )

    seed_path = workdir / "seed.toml"
    seed_path.write_text(seed)
    stdout_path, stderr_path = workdir / "stdout.log", workdir / "stderr.log"
    config.stash.setdefault(_GATEWAY_LOGS, []).append((stdout_path, stderr_path))

    port = port or free_port()
    base_url = f"http://127.0.0.1:{port}"
    process_env = {
        **os.environ,
        **(env or {}),
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }
    command = [
        str(binary), "serve",
        "--config", str(seed_path),
        "--listen", f"127.0.0.1:{port}",
        "--database", str(workdir / "switchyard.db"),
    ]
    with open(stdout_path, "wb") as stdout, open(stderr_path, "wb") as stderr:
        process = subprocess.Popen(
            command, cwd=workdir, env=process_env, stdin=subprocess.DEVNULL,
            stdout=stdout, stderr=stderr,
        )
    try:
        wait_until_healthy(process, base_url, lambda: describe_logs(stdout_path, stderr_path))
        yield base_url
    finally:
        stop_process(process)


def bearer_client(base_url: str, token: str | None = None, timeout: float = CLIENT_TIMEOUT_SECONDS) -> httpx.Client:
    """An httpx client for the gateway (proxies ignored), sending `token` as the bearer token when given."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=base_url, timeout=timeout, trust_env=False, headers=headers)


def chat(http: httpx.Client, model: str, user: str | None = None, text: str = "hi",
         token: str | None = None) -> httpx.Response:
    """One plain chat completion: `user` as the OpenAI `user` field, `token` instead of the client's own."""
    body: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": text}]}
    if user is not None:
        body["user"] = user
    headers = {"Authorization": f"Bearer {token}"} if token else None
    return http.post("/v1/chat/completions", json=body, headers=headers)


def error_of(response: httpx.Response) -> dict[str, Any]:
    """The `error` object of an error answer, which must carry a message."""
    body = response.json()
    assert isinstance(body.get("error"), dict), body
    assert isinstance(body["error"].get("message"), str) and body["error"]["message"], body
    return body["error"]


# ---------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream() as server:
        yield server


@pytest.fixture(scope="module")
def gateway(upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory,
            request: pytest.FixtureRequest) -> Iterator[str]:
    """Start `switchyard serve` and yield its base URL (no trailing /v1)."""
    env = {"E2E_UPSTREAM_KEY": UPSTREAM_KEY, "E2E_BOB_TOKEN": BOB_TOKEN}
    with start_gateway(render_seed(upstream.base_url), tmp_path_factory.mktemp("switchyard"),
                       request.config, env=env) as base_url:
        yield base_url


@pytest.fixture(scope="module")
def make_client(gateway: str) -> Callable[..., openai.OpenAI]:
    """Factory for sync SDK clients talking to the gateway (no retries)."""
    def make(token: str = ALICE_TOKEN) -> openai.OpenAI:
        return openai.OpenAI(
            base_url=f"{gateway}/v1", api_key=token,
            max_retries=0, timeout=CLIENT_TIMEOUT_SECONDS,
        )
    return make


@pytest.fixture(scope="module")
def make_async_client(gateway: str) -> Callable[..., openai.AsyncOpenAI]:
    """Factory for async SDK clients; create them inside the running event loop."""
    def make(token: str = ALICE_TOKEN) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(
            base_url=f"{gateway}/v1", api_key=token,
            max_retries=0, timeout=CLIENT_TIMEOUT_SECONDS,
        )
    return make


@pytest.fixture(scope="module")
def client(make_client: Callable[..., openai.OpenAI]) -> Iterator[openai.OpenAI]:
    """Alice's client: may use echo, relay, split and tuned."""
    with make_client(ALICE_TOKEN) as sdk:
        yield sdk


# ---------------------------------------------------------------------------
# Show the gateway's logs next to failing tests
# ---------------------------------------------------------------------------


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.failed and report.when == "call":
        for stdout, stderr in item.config.stash.get(_GATEWAY_LOGS, [])[-1:]:
            report.sections.append(("switchyard logs", describe_logs(stdout, stderr)))
