"""Every metric name the shipped alert rules and Grafana dashboard use is exported.

Resources/monitoring/alerts.yml and grafana-dashboard.json name metrics by hand; a renamed or
never-registered metric would leave an alert that can never fire and an empty panel. This module
runs its own gateway on the mock provider, makes the traffic and events those metrics describe
(answers, 5xx errors, a stream quiet long enough for keep-alive comments, a rollout started and
aborted), scrapes /metrics and requires every name used there among the exported samples.
"""

from __future__ import annotations

import json
import re

import httpx
import pytest

from conftest import REPO_ROOT, GatewaySeed, chat

MONITORING = REPO_ROOT / "Resources" / "monitoring"
ADMIN_TOKEN = "e2e-monitoring-admin"
USER_TOKEN = "sk-monitoring-e2e"

# Exported only after an event this test cannot make cheaply, with the reason. Keep it short.
NOT_EXPORTED_HERE: dict[str, str] = {}

# Our metrics all start with one of these; so does one label (gen_ai_token_type), which
# `without_labels` removes first: label matchers in braces and the lists after by, on and the like.
METRIC_NAME = re.compile(r"\b((?:switchyard|gen_ai)_[a-z0-9_]+)\b")
LABEL_LISTS = re.compile(r"\{[^{}]*\}|\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")


def metric_names(promql: str) -> set[str]:
    return set(METRIC_NAME.findall(LABEL_LISTS.sub(" ", promql)))

SEED = f"""\
[server]
admin_token = "{ADMIN_TOKEN}"

# A collector that is not there: the exporter runs, its spans are dropped and counted.
[telemetry]
otlp_endpoint = "http://127.0.0.1:9"

[settings]
max_retries = 0
health_check_interval_seconds = 0
stream_keepalive_seconds = 0.2

[providers.demo]
format = "mock"

[models.chat]
[models.chat.versions.v1]
weight = 90
default = true
backends = [ {{ provider = "demo", model = "stable", mock = {{ ttft_ms = 5, latency_ms = 10, chunks = 2 }} }} ]
[models.chat.versions.v2]
weight = 10
backends = [ {{ provider = "demo", model = "canary" }} ]

[models.broken]
backends = [ {{ provider = "demo", model = "broken", mock = {{ error_rate = 1.0, seed = 1 }} }} ]

[models.slow]
backends = [ {{ provider = "demo", model = "slow", mock = {{ ttft_ms = 700, latency_ms = 800, chunks = 2 }} }} ]

[users.ops]
token = "{USER_TOKEN}"
"""


def names_used() -> dict[str, set[str]]:
    """Metric names per monitoring file: the rules' text, the dashboard's queries and variables."""
    rules = MONITORING / "alerts.yml"
    dashboard = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    queries = [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
    queries += [variable.get("definition", "") for variable in dashboard["templating"]["list"]]
    # Comments in the rules file mention metrics that do not exist yet: only expressions count.
    rule_lines = [line for line in rules.read_text().splitlines() if not line.lstrip().startswith("#")]
    return {rules.name: metric_names("\n".join(rule_lines)), "grafana-dashboard.json": metric_names("\n".join(queries))}


def exported(text: str) -> set[str]:
    """Sample names in a Prometheus text exposition (histograms give _bucket, _sum, _count)."""
    return {re.split(r"[{ ]", line, maxsplit=1)[0] for line in text.splitlines() if line and not line.startswith("#")}


@pytest.fixture(scope="module")
def gateway_seed() -> GatewaySeed:
    return GatewaySeed(SEED, ADMIN_TOKEN, USER_TOKEN)


def make_traffic(user_http: httpx.Client, admin: httpx.Client) -> None:
    for model, status in (("chat", 200), ("broken", 500)):
        answer = chat(user_http, model)
        assert answer.status_code == status, answer.text
    with user_http.stream("POST", "/v1/chat/completions",
                          json={"model": "slow", "stream": True, "messages": [{"role": "user", "content": "hi"}]}) as stream:
        assert stream.status_code == 200
        body = "".join(stream.iter_text())
    assert ": keep-alive" in body and "[DONE]" in body, body
    started = admin.post("/api/models/chat/rollouts", json={"canary": "v2", "steps": [{"set_weight": 10}, {"pause": {}}]})
    assert started.status_code == 201, started.text
    aborted = admin.post(f"/api/rollouts/{started.json()['id']}/abort")
    assert aborted.status_code == 200, aborted.text


def test_every_metric_in_the_alerts_and_the_dashboard_is_exported(http: httpx.Client, user_http: httpx.Client,
                                                                  admin: httpx.Client) -> None:
    make_traffic(user_http, admin)
    text = http.get("/metrics").text
    names = exported(text)
    missing = {
        file: sorted(name for name in used if name not in names and name not in NOT_EXPORTED_HERE)
        for file, used in names_used().items()
    }
    assert all(used for used in names_used().values()), "no metric names found in the monitoring files"
    assert not any(missing.values()), f"used but not exported: {missing}\nexported: {sorted(names)}"
    assert 'switchyard_rollout_state{model="chat"' in text and "} 3" in text
