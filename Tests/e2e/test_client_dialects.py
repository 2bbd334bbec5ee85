"""End-to-end tests: the client dialects beyond chat completions, with the official SDKs unmodified.

This module runs its own gateway on the seed below:
    echo    -> mock provider "demo" (OpenAI-shaped answers), upstream model "mock-echo"
    relay   -> OpenAI-compatible provider "up" (fake_upstream.py), upstream model "gpt-upstream"
    claude  -> mock provider "claudish" that speaks Anthropic's format
    secret  -> exists, but alice may not use it
"""

from __future__ import annotations

import time
import uuid
from typing import Iterator

import httpx
import openai
import pytest

from conftest import ADMIN_TOKEN, ALICE_TOKEN, UPSTREAM_KEY, GatewaySeed, error_of
from fake_upstream import REPLY_PREFIX, FakeUpstream

SEED = """\
[server]
admin_token = "{admin_token}"

[providers.demo]
format = "mock"

[providers.claudish]
format = "mock"
speaks = "anthropic"

[providers.up]
format = "openai"
base_url = "{upstream_url}"
api_key = "env:E2E_UPSTREAM_KEY"

[models.echo]
backends = [ {{ provider = "demo", model = "mock-echo", mock = {{ chunks = 3 }} }} ]

[models.relay]
backends = [ {{ provider = "up", model = "gpt-upstream" }} ]

[models.claude]
backends = [ {{ provider = "claudish", model = "claude-mock" }} ]

[models.secret]
backends = [ {{ provider = "demo", model = "x" }} ]

[users.alice]
token = "{alice_token}"
allowed_models = ["echo", "relay", "claude"]
"""


@pytest.fixture(scope="module")
def gateway_seed(upstream: FakeUpstream) -> GatewaySeed:
    toml = SEED.format(admin_token=ADMIN_TOKEN, upstream_url=upstream.base_url, alice_token=ALICE_TOKEN)
    return GatewaySeed(toml, ADMIN_TOKEN, ALICE_TOKEN, env={"E2E_UPSTREAM_KEY": UPSTREAM_KEY})


@pytest.fixture(scope="module")
def admin_http(gateway: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30) as client:
        yield client


def marker(label: str) -> str:
    return f"{label} {uuid.uuid4().hex[:10]}"


# ---------------------------------------------------------------------------
# GET /v1/models/{id}
# ---------------------------------------------------------------------------


def test_models_retrieve_answers_in_openais_shape(sdk: openai.OpenAI) -> None:
    model = sdk.models.retrieve("relay")
    assert model.id == "relay"
    assert model.object == "model"
    assert model.owned_by == "switchyard"


def test_models_retrieve_of_an_unknown_or_forbidden_model_is_a_404(sdk: openai.OpenAI, user_http: httpx.Client) -> None:
    for name in ("no-such-model", "secret"):
        with pytest.raises(openai.NotFoundError) as raised:
            sdk.models.retrieve(name)
        assert raised.value.code == "model_not_found", name
        assert name in raised.value.message
    answer = user_http.get("/v1/models/secret")
    assert answer.status_code == 404
    assert error_of(answer)["code"] == "model_not_found"


def test_models_retrieve_needs_a_token(http: httpx.Client) -> None:
    answer = http.get("/v1/models/echo")
    assert answer.status_code == 401
    assert error_of(answer)["code"] == "invalid_api_key"


# ---------------------------------------------------------------------------
# POST /v1/completions
# ---------------------------------------------------------------------------


def test_completions_pass_through_to_an_openai_backend(sdk: openai.OpenAI, upstream: FakeUpstream) -> None:
    prompt = marker("legacy")
    completion = sdk.completions.create(model="relay", prompt=prompt, max_tokens=5)
    assert completion.object == "text_completion"
    assert completion.choices[0].text == REPLY_PREFIX + prompt
    assert completion.usage is not None and completion.usage.prompt_tokens > 0
    sent = [r for r in upstream.requests if r.path.startswith("/v1/completions") and r.body.get("prompt") == prompt]
    assert len(sent) == 1, upstream.requests
    assert sent[0].body["model"] == "gpt-upstream"
    assert sent[0].body["max_tokens"] == 5
    assert sent[0].header("authorization") == f"Bearer {UPSTREAM_KEY}"


def test_completions_stream_from_an_openai_backend(sdk: openai.OpenAI) -> None:
    prompt = marker("legacy stream")
    chunks = list(sdk.completions.create(model="relay", prompt=prompt, stream=True))
    text = "".join(c.choices[0].text for c in chunks if c.choices)
    assert text == REPLY_PREFIX + prompt
    # The gateway asks for usage upstream but the client did not: no usage-only chunk reaches it.
    assert all(c.choices for c in chunks)


def test_completions_from_the_mock(sdk: openai.OpenAI) -> None:
    prompt = marker("mock legacy")
    completion = sdk.completions.create(model="echo", prompt=prompt)
    assert completion.choices[0].text == prompt
    assert completion.model == "mock-echo"
    stream = sdk.completions.create(model="echo", prompt=[prompt], stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    assert "".join(c.choices[0].text for c in chunks if c.choices) == prompt
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0


def test_completions_to_an_anthropic_backend_are_a_400_naming_the_problem(sdk: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        sdk.completions.create(model="claude", prompt="hi")
    assert raised.value.code == "unsupported_endpoint"
    assert "/v1/completions" in raised.value.message and "Anthropic" in raised.value.message


def test_completions_need_a_prompt(user_http: httpx.Client) -> None:
    answer = user_http.post("/v1/completions", json={"model": "echo"})
    assert answer.status_code == 400
    assert error_of(answer)["param"] == "prompt"


def test_completions_are_recorded_like_chat(sdk: openai.OpenAI, admin_http: httpx.Client) -> None:
    def relay_requests() -> int:
        rows = {row["key"]: row for row in admin_http.get("/api/usage?group_by=model").json()["rows"]}
        return rows.get("relay", {}).get("requests", 0)

    time.sleep(1.0)  # the earlier tests' outcomes, still in the writer's batch
    before = relay_requests()
    sdk.completions.create(model="relay", prompt=marker("recorded"))
    deadline = time.monotonic() + 10
    while relay_requests() < before + 1 and time.monotonic() < deadline:
        time.sleep(0.3)
    assert relay_requests() == before + 1
