"""Property-based fuzzing of the admin API with Schemathesis, driven by its OpenAPI document.

Schemathesis reads the document the gateway serves (`GET /api/openapi.json`) and sends generated
requests to every operation with the admin token: examples, boundary and negative cases of every
parameter and body field (the coverage phase), random ones (fuzzing) and chains that feed one
answer's ids into the next request (stateful). The only check is `not_a_server_error`: whatever a
client sends, the admin API never answers 5xx. (Conformance of the answers to the document is
test_openapi.py's job, with realistic requests.)

The run is bounded: at most SCHEMATHESIS_SECONDS of generation (default 60; the environment
variable SWITCHYARD_SCHEMATHESIS_SECONDS changes it) and 10 s per request. Its seed is fixed
(SWITCHYARD_SCHEMATHESIS_SEED changes it) so a failure can be replayed.

Path parameters are drawn half of the time from the objects the fixture created (models,
versions, the ids of a provider, a user, an experiment, a rollout and a session), so operations
get past 404 and reach their body checks. Nothing is excluded. Two body fields are pinned instead,
to keep every connection on 127.0.0.1: a provider's `base_url` is always a closed local port and its
`format` never `anthropic` (whose default base URL is api.anthropic.com) — otherwise a generated
provider followed by `refresh-models`, or a health check, would reach out to whatever host the
generator made up. `DELETE /api/models/{name}` draws only the expendable model `spare`, so the
models the other operations use stay.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from conftest import OPENAPI_DOCUMENT, GatewaySeed, chat

pytest.importorskip("schemathesis", reason="schemathesis is not installed (pip install schemathesis)")

ADMIN_TOKEN = "e2e-schemathesis-admin"
USER_TOKEN = "sk-schemathesis-e2e-user"
SCHEMATHESIS_SECONDS = int(os.environ.get("SWITCHYARD_SCHEMATHESIS_SECONDS", "60"))
SCHEMATHESIS_SEED = int(os.environ.get("SWITCHYARD_SCHEMATHESIS_SEED", "20261122"))
RUN_TIMEOUT_SECONDS = SCHEMATHESIS_SECONDS + 120
HTTP_TIMEOUT_SECONDS = 10
CLOSED_LOCAL_URL = "http://127.0.0.1:9"  # the discard port: nothing listens, connections fail at once

SEED = f"""\
[server]
admin_token = "{ADMIN_TOKEN}"

[settings]
max_retries = 0
health_check_interval_seconds = 0

# Named like the README's and the document's examples (provider demo, model chat, user demo), so
# the examples the document gives reach real objects.
[providers.demo]
format = "mock"

[models.chat.versions.v1]
weight = 90
default = true
backends = [ {{ provider = "demo", model = "echo-large" }} ]
[models.chat.versions.v2]
weight = 10
backends = [ {{ provider = "demo", model = "echo-next" }} ]

[models.rolling.versions.v1]
weight = 100
default = true
backends = [ {{ provider = "demo", model = "rolling-v1" }} ]
[models.rolling.versions.v2]
weight = 0
backends = [ {{ provider = "demo", model = "rolling-v2" }} ]

[models.trial.versions.v1]
weight = 50
default = true
backends = [ {{ provider = "demo", model = "trial-v1" }} ]
[models.trial.versions.v2]
weight = 50
backends = [ {{ provider = "demo", model = "trial-v2" }} ]

[models.spare]
backends = [ {{ provider = "demo", model = "spare" }} ]

[users.demo]
token = "{USER_TOKEN}"
"""


@pytest.fixture(scope="module")
def gateway_seed() -> GatewaySeed:
    return GatewaySeed(SEED, ADMIN_TOKEN, USER_TOKEN)


def prepare(admin: httpx.Client, user_http: httpx.Client) -> dict[str, list[str]]:
    """Creates the objects path parameters are drawn from; returns the ids by kind."""
    rollout = admin.post("/api/models/rolling/rollouts", json={"canary": "v2", "steps": [{"set_weight": 5}, {"pause": {}}]})
    assert rollout.status_code == 201, rollout.text
    experiment = admin.post("/api/experiments", json={
        "name": "fuzzed", "model": "trial", "control": "a",
        "variants": [{"id": "a", "version": "v1"}, {"id": "b", "version": "v2"}]})
    assert experiment.status_code == 201, experiment.text
    answer = chat(user_http, "chat", headers={"x-session-id": "conv-42"})
    assert answer.status_code == 200, answer.text
    return {"rollout": [rollout.json()["id"]], "experiment": [experiment.json()["id"]]}


def toml_list(values: list[str]) -> str:
    return "[" + ", ".join(json.dumps(value) for value in values) + "]"


def write_config(path: Path, ids: dict[str, list[str]]) -> None:
    path.write_text(f"""\
[dictionaries.models]
values = {toml_list(["chat", "rolling", "trial"])}

[dictionaries.expendable_models]
values = {toml_list(["spare"])}

[dictionaries.versions]
values = {toml_list(["v1", "v2"])}

[dictionaries.ids]
values = {toml_list(["demo", "conv-42", *ids["rollout"], *ids["experiment"]])}

[dictionaries.local_urls]
values = {toml_list([CLOSED_LOCAL_URL, CLOSED_LOCAL_URL + "/v1"])}

[dictionaries.local_formats]
values = {toml_list(["mock", "openai", "azure", "ollama"])}

[parameters]
"path.model" = {{ dictionary = "models", probability = 0.5 }}
"path.name" = {{ dictionary = "expendable_models", probability = 0.5 }}
"path.version" = {{ dictionary = "versions", probability = 0.5 }}
"path.id" = {{ dictionary = "ids", probability = 0.5 }}
"body.base_url" = {{ dictionary = "local_urls", probability = 1.0 }}
"body.format" = {{ dictionary = "local_formats", probability = 1.0 }}
""")


def test_admin_api_never_answers_5xx(gateway: str, gateway_workdir: Path, http: httpx.Client, admin: httpx.Client,
                                     user_http: httpx.Client) -> None:
    base_url, workdir = gateway, gateway_workdir
    served = http.get("/api/openapi.json")
    assert served.status_code == 200, served.text[:300]
    assert served.json() == json.loads(OPENAPI_DOCUMENT.read_text()), (
        "the served document differs from Sources/SwitchyardGateway/Resources/openapi.json: rebuild the binary")
    assert served.json()["paths"], "the document has no operations"

    config = workdir / "schemathesis.toml"
    write_config(config, prepare(admin, user_http))
    seed = SCHEMATHESIS_SEED
    output, returncode = run_schemathesis(base_url, workdir, config, seed)
    if returncode != 0 and only_the_fuzzer_crashed(output):
        # A crash inside Hypothesis's own engine is no finding about the gateway (its target phase,
        # where one was seen, is off: schemathesis_untargeted.py); the run is repeated once with the next seed.
        seed += 1
        print(f"\nHypothesis itself failed (no check failed); repeating with seed {seed}")
        output, returncode = run_schemathesis(base_url, workdir, config, seed)
    assert returncode == 0, (
        f"schemathesis found server errors or could not run (exit {returncode}, seed {seed}); each failure below "
        f"comes with a curl command that reproduces it:\n{output[-20000:]}")


def run_schemathesis(base_url: str, workdir: Path, config: Path, seed: int) -> tuple[str, int]:
    command = [
        sys.executable, str(Path(__file__).parent / "schemathesis_untargeted.py"), "--config-file", str(config), "run", f"{base_url}/api/openapi.json",
        "--header", f"Authorization: Bearer {ADMIN_TOKEN}",
        "--checks", "not_a_server_error",
        "--max-time", str(SCHEMATHESIS_SECONDS),
        "--max-examples", "25",
        "--request-timeout", str(HTTP_TIMEOUT_SECONDS),
        "--workers", "2",
        "--seed", str(seed),
        "--generation-database", "none",
        "--suppress-health-check", "all",
        "--warnings", "off",
        "--no-color",
        "--report", "junit", "--report-dir", str(workdir / "schemathesis-report"),
    ]
    env = {**os.environ, "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}
    try:
        run = subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired as error:
        pytest.fail(f"schemathesis did not finish within {RUN_TIMEOUT_SECONDS}s\n{error.stdout or ''}", pytrace=False)
    output = run.stdout + run.stderr
    summary = output[output.rfind("SUMMARY"):] if "SUMMARY" in output else output[-3000:]
    print(f"\nschemathesis (seed {seed}, {SCHEMATHESIS_SECONDS}s):\n{summary}")
    return output, run.returncode


def only_the_fuzzer_crashed(output: str) -> bool:
    """No check failed, and every error is a traceback ending inside Hypothesis's engine."""
    summary = output[output.rfind("SUMMARY"):] if "SUMMARY" in output else ""
    errors = output[output.find("ERRORS"):output.rfind("SUMMARY")] if "ERRORS" in output else ""
    tracebacks = errors.count("Traceback (most recent call last)")
    return ("Failures:" not in summary and tracebacks > 0
            and errors.count("site-packages/hypothesis/internal/") >= tracebacks and "Server error" not in output)
