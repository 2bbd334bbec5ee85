"""Fixtures and helpers shared by the Switchyard end-to-end tests.

Each test module gets its own servers, started when a test first asks for them:

    upstream        -- a FakeUpstream (fake_upstream.py), OpenAI-compatible
    fault           -- a FaultUpstream (fault_upstream.py) with a FaultState of its own
    gateway_seed    -- what the gateway runs on (GatewaySeed: seed TOML, tokens, environment).
                       By default SEED_TEMPLATE below, whose "up" provider is `upstream`; a
                       module with a seed of its own overrides this fixture, and every fixture
                       below then serves that seed.
    gateway_workdir -- the gateway's folder: seed.toml, the database, the logs
    gateway         -- base URL of `switchyard serve` on that seed
    admin, http, user_http, sdk, make_client -- clients of it

The gateway binary is taken from $SWITCHYARD_BIN (default
.build/debug/switchyard, relative to the repository root). A test that needs a
gateway of its own (a restart, a seed that names the gateway's own port) calls
`start_gateway`, which the fixtures use too.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import httpx
import openai
import pytest

from fake_upstream import FakeUpstream, free_port
from fault_upstream import FaultState, FaultUpstream

REPO_ROOT = Path(__file__).resolve().parents[2]
OPENAPI_DOCUMENT = REPO_ROOT / "Sources" / "SwitchyardGateway" / "Resources" / "openapi.json"
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
MAX_SSE_EVENTS = 1000

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


@dataclass(frozen=True)
class GatewaySeed:
    """What a module's gateway runs on: the seed TOML, the tokens it declares, the environment it reads."""

    toml: str
    admin_token: str
    user_token: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


def gateway_binary() -> Path:
    path = Path(os.environ.get("SWITCHYARD_BIN") or DEFAULT_BIN)
    return path if path.is_absolute() else REPO_ROOT / path


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
                  env: Mapping[str, str] | None = None, port: int | None = None,
                  database: str | None = None) -> Iterator[str]:
    """Run `switchyard serve` on `seed` until the block ends; yield its base URL.

    The seed, database and logs live in `workdir`; `env` is added to the
    process environment; `port` is chosen when not given; `database` (a file or a
    `postgres://` URL) replaces the workdir's `switchyard.db`. The logs are registered with `config` so that a
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
        "--database", database or str(workdir / "switchyard.db"),
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
         token: str | None = None, headers: Mapping[str, str] | None = None) -> httpx.Response:
    """One plain chat completion: `user` as the OpenAI `user` field, `token` instead of the client's own."""
    body: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": text}]}
    if user is not None:
        body["user"] = user
    sent = {**({"Authorization": f"Bearer {token}"} if token else {}), **(headers or {})}
    return http.post("/v1/chat/completions", json=body, headers=sent or None)


def sdk_client(base_url: str, token: str | None,
               kind: type[openai.OpenAI | openai.AsyncOpenAI] = openai.OpenAI) -> openai.OpenAI | openai.AsyncOpenAI:
    """The official SDK (`kind`: sync or async) on the gateway, without the SDK's own retries."""
    return kind(base_url=f"{base_url}/v1", api_key=token, max_retries=0, timeout=CLIENT_TIMEOUT_SECONDS)


def error_of(response: httpx.Response) -> dict[str, Any]:
    """The `error` object of an OpenAI-shaped error answer, which must carry a message."""
    try:
        body = response.json()
    except ValueError:
        pytest.fail(f"expected an OpenAI error JSON body, got {response.text[:300]!r}", pytrace=False)
    assert isinstance(body, dict) and isinstance(body.get("error"), dict), f"expected {{'error': {{...}}}}, got {body}"
    assert isinstance(body["error"].get("message"), str) and body["error"]["message"], body
    return body["error"]


def sse_data(response: httpx.Response) -> list[str]:
    """The `data:` payloads of a server-sent event stream, read to its end."""
    payloads: list[str] = []
    try:
        for line in response.iter_lines():
            if line.startswith("data:"):
                payloads.append(line[len("data:"):].strip())
                assert len(payloads) <= MAX_SSE_EVENTS, "runaway stream"
    except httpx.TransportError as error:
        pytest.fail(
            f"the gateway broke off the stream ({type(error).__name__}: {error}) instead of "
            f"ending it, with an error event if it failed; events so far: {payloads}",
            pytrace=False,
        )
    return payloads


# ---------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream() as server:
        yield server


@pytest.fixture(scope="module")
def fault() -> Iterator[FaultUpstream]:
    """A fault-injecting upstream (fault_upstream.py) with a FaultState of its own."""
    with FaultUpstream(fault_state=FaultState()) as server:
        yield server


@pytest.fixture(scope="module")
def gateway_seed(upstream: FakeUpstream) -> GatewaySeed:
    """SEED_TEMPLATE on the fake upstream, alice as the user; modules with a seed of their own override this."""
    return GatewaySeed(render_seed(upstream.base_url), ADMIN_TOKEN, ALICE_TOKEN,
                       env={"E2E_UPSTREAM_KEY": UPSTREAM_KEY, "E2E_BOB_TOKEN": BOB_TOKEN})


@pytest.fixture(scope="module")
def gateway_workdir(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Path:
    """The folder of the module's gateway: `seed.toml`, the database and the logs."""
    return tmp_path_factory.mktemp(f"switchyard-{request.module.__name__}")


@pytest.fixture(scope="module")
def gateway(gateway_seed: GatewaySeed, gateway_workdir: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """Start `switchyard serve` on the module's seed and yield its base URL (no trailing /v1)."""
    with start_gateway(gateway_seed.toml, gateway_workdir, request.config, env=gateway_seed.env) as base_url:
        yield base_url


@pytest.fixture(scope="module")
def admin(gateway: str, gateway_seed: GatewaySeed) -> Iterator[httpx.Client]:
    """The admin API, with the seed's admin token on every call."""
    with bearer_client(gateway, gateway_seed.admin_token) as client:
        yield client


@pytest.fixture(scope="module")
def http(gateway: str) -> Iterator[httpx.Client]:
    """No token: unauthenticated calls, and calls that send a token of their own."""
    with bearer_client(gateway) as client:
        yield client


@pytest.fixture(scope="module")
def user_http(gateway: str, gateway_seed: GatewaySeed) -> Iterator[httpx.Client]:
    """Client traffic with the seed's user token."""
    with bearer_client(gateway, gateway_seed.user_token) as client:
        yield client


@pytest.fixture(scope="module")
def make_client(gateway: str, gateway_seed: GatewaySeed) -> Callable[..., openai.OpenAI | openai.AsyncOpenAI]:
    """Factory for SDK clients on the gateway, as the seed's user unless given another token.
    Make an async one (`kind=openai.AsyncOpenAI`) inside the running event loop."""
    return lambda token=gateway_seed.user_token, kind=openai.OpenAI: sdk_client(gateway, token, kind)


@pytest.fixture(scope="module")
def sdk(make_client: Callable[..., openai.OpenAI]) -> Iterator[openai.OpenAI]:
    """The SDK as the seed's user (in the shared seed alice, who may use echo, relay, split and tuned)."""
    with make_client() as client:
        yield client


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
