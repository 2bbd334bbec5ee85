"""Admin input checked at the door: names, numbers, list sizes, and providers that lead back to the gateway."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import httpx

from conftest import free_port, gateway_binary, start_gateway

ADMIN = "input-admin-token"
USER = "sk-input-user-1"


def seed(port: int) -> str:
    return f"""
[server]
admin_token = "{ADMIN}"

[settings]
health_check_interval_seconds = 0

[providers.demo]
format = "mock"

[providers.itself]
format = "openai"
base_url = "http://127.0.0.1:{port}/v1"
api_key = "{USER}"
health_check = "none"

[models.chat]
backends = [ {{ provider = "demo", model = "a" }} ]

[models.loop]
backends = [ {{ provider = "itself", model = "loop" }} ]

[users.u]
token = "{USER}"
"""


def test_admin_input_is_checked_at_the_door(tmp_path: Path, pytestconfig) -> None:
    port = free_port()
    admin = {"Authorization": f"Bearer {ADMIN}"}
    with start_gateway(seed(port), tmp_path, pytestconfig, port=port) as base, \
            httpx.Client(base_url=base, timeout=30, trust_env=False, headers=admin) as http:
        def refused(response: httpx.Response, status: int, field: str) -> None:
            assert response.status_code == status, response.text
            assert response.json()["error"]["field"] == field, response.text

        # Names: one short line of printable characters.
        refused(http.post("/api/models/chat/versions", json={"name": "v\r\nX-Evil: 1", "weight": 0,
                                                             "backends": [{"provider": "demo", "model": "b"}]}), 422, "name")
        refused(http.post("/api/providers", json={"id": "tab\there", "format": "mock"}), 422, "id")
        refused(http.post("/api/providers", json={"id": "x" * 129, "format": "mock"}), 422, "id")
        refused(http.post("/api/users", json={"id": "eve", "name": "Eve\nAdmin"}), 422, "name")
        assert http.post("/api/providers", json={"id": "zürich-1", "format": "mock"}).status_code == 201

        # Numbers in queries: no nan, no inf.
        for path, field in [("/api/audit?since=nan", "since"), ("/api/audit?since=inf", "since"),
                            ("/api/usage?from=nan", "from"), ("/api/stats/timeseries?to=-inf", "to")]:
            refused(http.get(path), 400, field)

        # Lists with limits that say which.
        many = [{"provider": "demo", "model": f"m{index}"} for index in range(65)]
        response = http.post("/api/models/chat/versions", json={"name": "wide", "weight": 0, "backends": many})
        refused(response, 422, "backends")
        assert "at most 64 backends per version" in response.text
        for index in range(31):
            created = http.post("/api/models/chat/versions",
                                json={"name": f"v{index + 2}", "weight": 0, "backends": [{"provider": "demo", "model": "b"}]})
            assert created.status_code == 201, created.text
        response = http.post("/api/models/chat/versions", json={"name": "one-too-many", "weight": 0,
                                                                "backends": [{"provider": "demo", "model": "b"}]})
        refused(response, 422, "name")
        assert "At most 32 versions per model" in response.text

        # A provider that leads back to the gateway is refused when created, whichever name it uses.
        for host in ("127.0.0.1", "localhost"):
            refused(http.post("/api/providers", json={"id": f"me-{host}", "format": "openai",
                                                      "base_url": f"http://{host}:{port}/v1"}), 422, "base_url")
        assert http.post("/api/providers", json={"id": "elsewhere", "format": "openai",
                                                 "base_url": f"http://127.0.0.1:{free_port()}/v1"}).status_code == 201

        # One from the seed is stopped by the hop count after a few rounds, not by exhausting the pool.
        started = time.monotonic()
        answer = http.post("/v1/chat/completions", headers={"Authorization": f"Bearer {USER}"},
                           json={"model": "loop", "messages": [{"role": "user", "content": "hi"}]})
        assert answer.status_code == 508, answer.text
        assert answer.json()["error"]["code"] == "loop_detected"
        assert time.monotonic() - started < 10
        for hops, status in (("-3", 200), ("junk", 200), ("4", 200), ("5", 508)):
            answer = http.post("/v1/chat/completions", headers={"Authorization": f"Bearer {USER}", "x-switchyard-hops": hops},
                               json={"model": "chat", "messages": [{"role": "user", "content": "hi"}]})
            assert answer.status_code == status, (hops, answer.text)
        time.sleep(1.5)  # the outcome writer's batch
        rows = {row["key"]: row for row in http.get("/api/usage?group_by=model").json()["rows"]}
        assert rows["loop"]["requests"] == 5, rows


def test_seed_names_are_checked(tmp_path: Path) -> None:
    (tmp_path / "seed.toml").write_text(
        '[providers.demo]\nformat = "mock"\n[models."two\\twords"]\nbackends = [ { provider = "demo", model = "a" } ]\n'
        '[models.ok.versions."v\\u0007"]\nbackends = [ { provider = "demo", model = "a" } ]\n')
    result = subprocess.run([str(gateway_binary()), "validate", "seed.toml"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "models.two\twords" in result.stderr and "one line of printable characters" in result.stderr, result.stderr
    assert "models.ok.versions" in result.stderr, result.stderr
