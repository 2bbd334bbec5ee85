"""End-to-end tests of seed hot reload, the configuration API and the export round trip.

The gateway runs on a seed file in its own work directory; the tests rewrite that file the way
editors do (in place, or a temporary file renamed over it), send SIGHUP, call
POST /api/config/reload, and check what serves. Everything is on 127.0.0.1; every wait is bounded.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from conftest import GatewaySeed

ADMIN_TOKEN = "e2e-reload-admin"
USER_TOKEN = "sk-reload-e2e-user"
WAIT_SECONDS = 5


def seed(*extra_models: str, broken: str = "") -> str:
    models = "".join(
        f'\n[models.{name}]\nbackends = [ {{ provider = "mock", model = "{name}-m" }} ]\n' for name in extra_models)
    return f"""\
[server]
admin_token = "{ADMIN_TOKEN}"

[settings]
health_check_interval_seconds = 0

[providers.mock]
format = "mock"

[models.base]
backends = [ {{ provider = "mock", model = "base-m" }} ]
{models}
[users.tester]
token = "{USER_TOKEN}"
{broken}"""


class ReloadingGateway:
    """The module's gateway, its seed file and its clients: admin, user (the seed's user) and http (no token)."""

    def __init__(self, workdir: Path, admin: httpx.Client, user: httpx.Client, http: httpx.Client) -> None:
        self.seed_path = workdir / "seed.toml"
        self.admin, self.user, self.http = admin, user, http

    def models(self) -> set[str]:
        return {model["id"] for model in self.user.get("/v1/models").json()["data"]}

    def status(self) -> dict:
        return self.admin.get("/api/config/status").json()

    def save_by_rename(self, text: str) -> None:
        temporary = self.seed_path.with_name(".seed.toml.swp")
        temporary.write_text(text)
        os.replace(temporary, self.seed_path)

    def wait_for(self, predicate, what: str) -> float:
        start = time.monotonic()
        while time.monotonic() - start < WAIT_SECONDS:
            if predicate():
                return time.monotonic() - start
            time.sleep(0.01)
        raise AssertionError(f"not within {WAIT_SECONDS} s: {what}; status {self.status()}")

    def pid(self) -> int:
        found = subprocess.run(["pgrep", "-f", str(self.seed_path)], capture_output=True, text=True).stdout.split()
        assert len(found) == 1, found
        return int(found[0])


@pytest.fixture(scope="module")
def gateway_seed() -> GatewaySeed:
    return GatewaySeed(seed(), ADMIN_TOKEN, USER_TOKEN)


@pytest.fixture(scope="module")
def reloading(gateway_workdir: Path, admin: httpx.Client, user_http: httpx.Client, http: httpx.Client) -> ReloadingGateway:
    return ReloadingGateway(gateway_workdir, admin, user_http, http)


def test_saves_are_applied_within_a_second(reloading: ReloadingGateway) -> None:
    status = reloading.status()
    assert status["watching"] is True and status["result"] == "applied", status
    assert status["seed_path"].endswith("seed.toml") and len(status["last_hash"]) == 64

    # Written in place.
    reloading.seed_path.write_text(seed("inplace"))
    elapsed = reloading.wait_for(lambda: "inplace" in reloading.models(), "a model added in place is served")
    assert elapsed < 1.5, elapsed
    # Saved the way editors do: a temporary file renamed over the seed.
    reloading.save_by_rename(seed("inplace", "renamed"))
    elapsed = reloading.wait_for(lambda: "renamed" in reloading.models(), "a model added by rename is served")
    assert elapsed < 1.5, elapsed
    status = reloading.status()
    assert status["result"] == "applied" and "model:renamed" in status["changed"], status
    # The new model answers.
    answer = reloading.user.post("/v1/chat/completions", json={"model": "renamed", "messages": [{"role": "user", "content": "hi"}]})
    assert answer.status_code == 200 and answer.headers["x-switchyard-backend"] == "mock/renamed-m"


def test_an_invalid_file_applies_nothing_and_says_why(reloading: ReloadingGateway) -> None:
    reloading.save_by_rename(seed("inplace", "renamed"))
    reloading.wait_for(lambda: reloading.status()["result"] in ("applied", "unchanged"), "the valid file settles")
    before = reloading.status()
    reloading.save_by_rename(seed("inplace", "renamed", "gone") + '\n[models.bad]\nbackends = [ { provider = "nowhere", model = "x" } ]\n')
    reloading.wait_for(lambda: reloading.status()["result"] == "invalid", "the invalid file is reported")
    status = reloading.status()
    assert status["errors"][0]["key"] == "models.bad.versions.v1.backends[0].provider" or "models.bad" in status["errors"][0]["key"], status
    assert status["last_hash"] == before["last_hash"], "the applied file is still the previous one"
    # The previous configuration keeps serving; nothing of the broken file was applied.
    assert reloading.models() >= {"base", "inplace", "renamed"} and "gone" not in reloading.models()
    refused = reloading.admin.post("/api/config/reload")
    assert refused.status_code == 422 and refused.json()["error"]["field"], refused.text
    # A syntax error names its line.
    reloading.seed_path.write_text(seed("renamed", broken="oops = [\n"))
    reloading.wait_for(lambda: "line" in (reloading.status()["errors"] or [{}])[0].get("message", ""), "the syntax error is reported")
    # Fixed: applied again, and what left the file is disabled.
    reloading.save_by_rename(seed("renamed"))
    reloading.wait_for(lambda: "inplace" not in reloading.models(), "a model removed from the file stops serving")
    assert reloading.status()["result"] == "applied"


def test_sighup_and_the_api_reload_too(reloading: ReloadingGateway) -> None:
    # Written without a change event reaching the watcher would be the same as an editor on another
    # machine: SIGHUP and the API read the file anyway.
    reloading.save_by_rename(seed("renamed", "hup"))
    os.kill(reloading.pid(), signal.SIGHUP)
    reloading.wait_for(lambda: "hup" in reloading.models(), "SIGHUP reloads")
    reloaded = reloading.admin.post("/api/config/reload")
    assert reloaded.status_code == 200 and reloaded.json()["result"] == "unchanged", reloaded.text


def test_the_export_fed_back_as_the_seed_changes_nothing(reloading: ReloadingGateway) -> None:
    admin = reloading.admin
    # Changes made through the API, which the file does not know.
    created = admin.post("/api/providers", json={"id": "extra", "format": "openai", "base_url": "http://127.0.0.1:9/v1",
                                                  "api_key": "sk-literal-secret-key-1234"})
    assert created.status_code == 201 and created.json()["api_key"] == "sk-…1234", created.text
    user = admin.post("/api/users", json={"id": "carol", "name": "Carol", "rate_limit": {"requests_per_minute": 30}})
    assert user.status_code == 201, user.text
    token = user.json()["token"]
    assert admin.put("/api/settings", json={"max_retries": 3}).json()["max_retries"] == 3
    assert admin.put("/api/models/base/release", json={"strategy": "round_robin"}).status_code == 200

    export = admin.get("/api/config/export")
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/plain")
    assert "sk-literal-secret-key-1234" not in export.text and token not in export.text
    audit_before = admin.get("/api/audit", params={"limit": 1}).json()["entries"][0]["id"]
    reloading.save_by_rename(export.text)
    reloading.wait_for(lambda: reloading.status()["last_hash"] and reloading.status()["result"] == "unchanged"
                     and reloading.status()["changed"] == [], "the exported file is read")
    assert admin.get("/api/audit", params={"limit": 1}).json()["entries"][0]["id"] == audit_before, "no object changed"
    # Secrets behind the placeholder are still the stored ones.
    carol = reloading.http.get("/v1/models", headers={"Authorization": f"Bearer {token}"})
    assert carol.status_code == 200
    assert admin.get("/api/providers/extra").json()["api_key"] == "sk-…1234"


def test_users_through_the_api(reloading: ReloadingGateway) -> None:
    admin = reloading.admin
    created = admin.post("/api/users", json={"id": "dave", "allowed_models": ["base"]})
    assert created.status_code == 201, created.text
    token = created.json()["token"]
    assert token.startswith("sk-sy-") and len(token) == 46
    assert "token" not in admin.get("/api/users/dave").json()
    as_dave = {"Authorization": f"Bearer {token}"}
    assert reloading.http.get("/v1/models", headers=as_dave).status_code == 200
    rotated = admin.post("/api/users/dave/rotate-token").json()["token"]
    assert reloading.http.get("/v1/models", headers=as_dave).status_code == 401, "the old token stops at once"
    as_dave = {"Authorization": f"Bearer {rotated}"}
    assert reloading.http.get("/v1/models", headers=as_dave).status_code == 200
    assert admin.put("/api/users/dave", json={"enabled": False}).json()["enabled"] is False
    assert reloading.http.get("/v1/models", headers=as_dave).status_code == 401
    assert admin.post("/api/users", json={"id": "dave"}).status_code == 409
    bad = admin.post("/api/users", json={"id": "erin", "allowed_models": ["nope"]})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "allowed_models"
    assert admin.post("/api/users", json={"id": "erin", "token": "mine"}).json()["error"]["field"] == "token"
    # Path parameters are percent-decoded.
    assert admin.post("/api/users", json={"id": "e ü"}).status_code == 201
    assert admin.get("/api/users/e%20%C3%BC").json()["id"] == "e ü"
    assert admin.delete("/api/users/e%20%C3%BC").status_code == 204
    assert admin.delete("/api/users/dave").status_code == 204
    assert admin.get("/api/users/dave").status_code == 404
    audit = admin.get("/api/audit", params={"object": "user:dave"}).json()["entries"]
    assert [entry["action"] for entry in audit] == ["delete", "update", "update", "create"]


def test_providers_and_models_through_the_api(reloading: ReloadingGateway) -> None:
    admin = reloading.admin
    assert admin.post("/api/providers", json={"id": "p2", "format": "mock"}).status_code == 201
    model = admin.post("/api/models", json={"name": "m2", "versions": {
        "v1": {"weight": 90, "default": True, "backends": [{"provider": "p2", "model": "a"}]},
        "v2": {"weight": 10, "backends": [{"provider": "p2", "model": "b"}]}}})
    assert model.status_code == 201 and model.json()["default"] == "v1", model.text
    reloading.wait_for(lambda: "m2" in reloading.models(), "a model created through the API serves at once")
    in_use = admin.delete("/api/providers/p2")
    assert in_use.status_code == 409 and in_use.json()["error"]["field"] == "id"
    bad = admin.post("/api/models", json={"name": "m3", "backends": [{"provider": "nowhere", "model": "x"}]})
    assert bad.status_code == 422 and bad.json()["error"]["field"].endswith("provider"), bad.text
    assert admin.put("/api/models/nope", json={"backends": [{"provider": "p2", "model": "x"}]}).status_code == 404
    assert admin.delete("/api/models/m2").status_code == 204
    assert admin.delete("/api/providers/p2").status_code == 204
    assert "m2" not in reloading.models()


def test_stats_and_system(reloading: ReloadingGateway) -> None:
    for _ in range(5):
        reloading.user.post("/v1/chat/completions", json={"model": "base", "messages": [{"role": "user", "content": "hi"}]})
    def recorded() -> bool:
        points = reloading.admin.get("/api/stats/timeseries", params={"model": "base"}).json()["points"]
        return sum(point["requests"] for point in points) >= 5
    reloading.wait_for(recorded, "the requests show in the time series")
    series = reloading.admin.get("/api/stats/timeseries", params={"model": "base", "step": 300}).json()
    assert series["step"] == 300 and len(series["points"]) in (12, 13)
    assert reloading.admin.get("/api/stats/timeseries", params={"step": 61}).json()["error"]["field"] == "step"
    for field, value in (("from", "-1e300"), ("to", "1e300")):
        refused = reloading.admin.get("/api/stats/timeseries", params={field: value})
        assert refused.status_code == 400 and refused.json()["error"]["field"] == field, refused.text
    system = reloading.admin.get("/api/system").json()
    assert system["database"]["size_bytes"] > 0 and system["counts"]["models"] >= 1 and system["uptime_seconds"] >= 0
