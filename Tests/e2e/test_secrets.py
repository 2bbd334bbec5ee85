"""Secrets never leak, one gateway per database file, start-up errors that say what to do.

Planted secrets (an upstream key and a header value from the environment, a literal header value, a
password in a base URL, the admin token) are looked for after every error path the gateway has
for them: in every admin GET, the export, the audit log, client answers, the log output and every
database table.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from conftest import free_port, gateway_binary, start_gateway
from fake_upstream import serving

ADMIN = "adm-planted-token-4411"
USER = "sk-secrets-user-1"
KEY = "sk-planted-key-7f3a9c0e"
HEADER_FROM_ENV = "hdr-planted-env-2b81"
HEADER_LITERAL = "hdr-planted-literal-91b2"
URL_PASSWORD = "url-planted-pass-33d4"
ENVIRONMENT = {"PLANTED_KEY": KEY, "PLANTED_HEADER": HEADER_FROM_ENV}


class HTMLUpstream(BaseHTTPRequestHandler):
    """Answers everything 200 text/html, as a captive portal or a misrouted proxy does; remembers the headers."""

    seen: list[dict[str, str]] = []

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self._answer()

    def _answer(self) -> None:
        HTMLUpstream.seen.append({name.lower(): value for name, value in self.headers.items()})
        body = b"<html><body>Please sign in</body></html>"
        self.send_response(200)
        self.send_header("content-type", "text/html")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def html_upstream() -> Iterator[int]:
    with serving(HTMLUpstream) as server:
        yield server.server_address[1]


def seed(html_port: int, closed_port: int) -> str:
    return f"""
[server]
admin_token = "{ADMIN}"

[settings]
health_check_interval_seconds = 1

[providers.closed]
format = "openai"
base_url = "http://robot:{URL_PASSWORD}@127.0.0.1:{closed_port}/v1"
api_key = "env:PLANTED_KEY"
headers = {{ "X-Second-Key" = "env:PLANTED_HEADER", "X-Third-Key" = "{HEADER_LITERAL}" }}

[providers.html]
format = "openai"
base_url = "http://127.0.0.1:{html_port}/v1"
api_key = "env:PLANTED_KEY"
headers = {{ "X-Second-Key" = "env:PLANTED_HEADER" }}

[models.gone]
backends = [ {{ provider = "closed", model = "m" }} ]

[models.page]
backends = [ {{ provider = "html", model = "m" }} ]

[users.u]
token = "{USER}"
"""


def run(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(gateway_binary()), *args], cwd=cwd, capture_output=True, text=True, timeout=60,
                          env={**os.environ, **env})


def leaks(text: str, secrets: list[str]) -> list[str]:
    return [secret for secret in secrets if secret in text]


def test_planted_secrets_appear_nowhere_after_every_error_path(tmp_path: Path, html_upstream: int, pytestconfig) -> None:
    closed_port = free_port()
    everything = [KEY, HEADER_FROM_ENV, HEADER_LITERAL, URL_PASSWORD, ADMIN]
    seen: list[tuple[str, str]] = []
    admin = {"Authorization": f"Bearer {ADMIN}"}
    with start_gateway(seed(html_upstream, closed_port), tmp_path, pytestconfig, env=ENVIRONMENT) as base, \
            httpx.Client(base_url=base, timeout=20, trust_env=False) as http:
        user = {"Authorization": f"Bearer {USER}"}
        for model in ("gone", "page"):
            for stream in (False, True):
                answer = http.post("/v1/chat/completions", headers=user,
                                   json={"model": model, "stream": stream, "messages": [{"role": "user", "content": "hi"}]})
                assert answer.status_code == 502, answer.text
                seen.append((f"chat {model} stream={stream}", answer.text))
        assert "something other than a JSON object" in seen[-1][1], "a 200 HTML page is the backend's failure"

        for provider in ("closed", "html"):
            refreshed = http.post(f"/api/providers/{provider}/refresh-models", headers=admin)
            seen.append((f"refresh {provider}", refreshed.text))
        injected = http.post("/api/providers", headers=admin,
                             json={"id": "evil", "format": "openai", "base_url": "http://127.0.0.1:9/v1", "api_key": "abc\r\nX-Inj: 1"})
        assert injected.status_code == 422 and injected.json()["error"]["field"] == "api_key", injected.text
        assert "X-Inj" not in injected.text
        bad_header = http.post("/api/providers", headers=admin,
                               json={"id": "evil", "format": "openai", "base_url": "http://127.0.0.1:9/v1",
                                     "headers": {"X-A": "a\nb"}})
        assert bad_header.status_code == 422 and bad_header.json()["error"]["field"] == "headers.X-A", bad_header.text

        # A provider sent back as GET shows it (masked) keeps its secrets.
        shown = http.get("/api/providers/closed", headers=admin).json()
        body = {key: value for key, value in shown.items() if key != "id"}
        put = http.put("/api/providers/closed", headers=admin, json=body)
        assert put.status_code == 200, put.text
        shown_html = http.get("/api/providers/html", headers=admin).json()
        assert http.put("/api/providers/html", headers=admin,
                        json={key: value for key, value in shown_html.items() if key != "id"}).status_code == 200
        HTMLUpstream.seen.clear()
        http.post("/v1/chat/completions", headers=user, json={"model": "page", "messages": [{"role": "user", "content": "hi"}]})
        sent = [headers for headers in HTMLUpstream.seen if "authorization" in headers]
        assert sent and sent[-1]["authorization"] == f"Bearer {KEY}" and sent[-1]["x-second-key"] == HEADER_FROM_ENV

        time.sleep(2.5)  # health probes of both providers fail at least once
        paths = ["/api/audit", "/api/audit?limit=500", "/api/config/export", "/api/config/status", "/api/experiments",
                 "/api/health/backends", "/api/models", "/api/models/gone", "/api/models/gone/weights", "/api/models/gone/versions",
                 "/api/models/gone/release", "/api/providers", "/api/providers/closed", "/api/providers/html",
                 "/api/providers/closed/models", "/api/providers/html/models", "/api/settings", "/api/stats/timeseries",
                 "/api/system", "/api/usage", "/api/users", "/api/users/u", "/metrics", "/health", "/ready", "/v1/models"]
        for path in paths:
            response = http.get(path, headers=user if path.startswith("/v1") else admin)
            assert response.status_code == 200, f"{path}: {response.status_code} {response.text[:200]}"
            seen.append((path, response.text))
        export = dict(seen)["/api/config/export"]
        assert "robot:<redacted>@127.0.0.1" in export and export.count("<redacted>") >= 2, export

    for name, text in seen:
        assert not leaks(text, everything), f"{name} shows {leaks(text, everything)}: {text[:400]}"
    for log in ("stdout.log", "stderr.log"):
        text = (tmp_path / log).read_text(errors="replace")
        assert not leaks(text, everything), f"{log} shows {leaks(text, everything)}"
    with sqlite3.connect(f"file:{tmp_path / 'switchyard.db'}?mode=ro", uri=True) as database:
        tables = [row[0] for row in database.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        assert "request_log" in tables and "audit_log" in tables and "provider_models" in tables
        for table in tables:
            rows = " ".join(repr(row) for row in database.execute(f'SELECT * FROM "{table}"'))
            # The providers table is the configuration itself: a literal the seed wrote is stored as written.
            planted = [KEY, HEADER_FROM_ENV, ADMIN] if table == "providers" else everything
            assert not leaks(rows, planted), f"table {table} holds {leaks(rows, planted)}"


def test_a_key_from_a_crlf_environment_file_is_refused_by_name(tmp_path: Path) -> None:
    (tmp_path / "seed.toml").write_text(seed(free_port(), free_port()))
    crlf = {**ENVIRONMENT, "PLANTED_KEY": KEY + "\r"}
    validate = run("validate", "seed.toml", cwd=tmp_path, env=crlf)
    assert validate.returncode == 1
    assert "providers.closed.api_key" in validate.stderr and "PLANTED_KEY" in validate.stderr, validate.stderr
    serve = run("serve", "--config", "seed.toml", "--listen", f"127.0.0.1:{free_port()}", cwd=tmp_path, env=crlf)
    assert serve.returncode == 1
    assert "PLANTED_KEY" in serve.stderr and "control character" in serve.stderr, serve.stderr
    for output in (validate.stdout, validate.stderr, serve.stdout, serve.stderr):
        assert KEY not in output


def test_one_gateway_per_database_file_and_start_up_errors_that_say_what_to_do(tmp_path: Path, pytestconfig) -> None:
    plain = '[server]\nadmin_token = "one-owner-admin"\n[providers.demo]\nformat = "mock"\n' \
            '[models.echo]\nbackends = [ { provider = "demo", model = "e" } ]\n[users.u]\ntoken = "sk-one-owner-user"\n'
    with start_gateway(plain, tmp_path, pytestconfig):
        second = run("serve", "--config", "seed.toml", "--listen", f"127.0.0.1:{free_port()}",
                      "--database", str(tmp_path / "switchyard.db"), cwd=tmp_path, env={})
        assert second.returncode == 1
        assert "is in use by process" in second.stderr and "switchyard.db" in second.stderr, second.stderr
        backup = run("backup", "--database", str(tmp_path / "switchyard.db"), str(tmp_path / "copy.db"), cwd=tmp_path, env={})
        assert backup.returncode == 0, backup.stderr
        banner = (tmp_path / "stdout.log").read_text()
        assert "sk-one-owner-user" not in banner and "<your user token>" in banner, banner

    missing = run("serve", "--config", "seed.toml", "--listen", f"127.0.0.1:{free_port()}",
                  "--database", str(tmp_path / "no" / "such" / "s.db"), cwd=tmp_path, env={})
    assert missing.returncode == 1
    assert f"the folder {tmp_path / 'no' / 'such'} does not exist" in missing.stderr and "mkdir -p" in missing.stderr
    assert "Fatal error" not in missing.stderr and "SQLite error" not in missing.stderr

    # Started without a seed file, the built-in example's demo token is shown: it is the example's.
    port = free_port()
    example_dir = tmp_path / "example"
    example_dir.mkdir()
    process = subprocess.Popen([str(gateway_binary()), "serve", "--listen", f"127.0.0.1:{port}"], cwd=example_dir,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        lines = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any("curl" in line for line in lines):
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line)
        assert any("with the example's demo token" in line for line in lines), lines
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=20)
