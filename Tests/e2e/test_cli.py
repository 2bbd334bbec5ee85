"""The operator commands, run as a user would: init, validate, backup, usage, health-check, test-backend."""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

import httpx

from conftest import gateway_binary, start_gateway
from fake_upstream import FakeUpstream


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(gateway_binary()), *args], cwd=cwd, capture_output=True, text=True, timeout=60)


def test_init_and_validate(tmp_path: Path) -> None:
    assert run("init", "seed.toml", cwd=tmp_path).returncode == 0
    assert run("init", "seed.toml", cwd=tmp_path).returncode == 1, "an existing file is not replaced"
    valid = run("validate", "seed.toml", cwd=tmp_path)
    assert valid.returncode == 0 and "valid" in valid.stdout
    (tmp_path / "bad.toml").write_text('[providers.x]\nformat = "nope"\n[settings]\nrequest_timeout = 3\n')
    invalid = run("validate", "bad.toml", cwd=tmp_path)
    assert invalid.returncode == 1
    assert "providers.x.format" in invalid.stderr and "settings.request_timeout: unknown key" in invalid.stderr


def test_backup_while_serving_and_usage(tmp_path: Path, pytestconfig) -> None:
    seed = '[server]\nadmin_token = "cli-admin"\n[providers.demo]\nformat = "mock"\n[models.echo]\nbackends = [ { provider = "demo", model = "e" } ]\n[users.u]\ntoken = "sk-cli-user-1"\n'
    with start_gateway(seed, tmp_path, pytestconfig) as base:
        with httpx.Client(base_url=base, timeout=10, trust_env=False) as client:
            for index in range(20):
                response = client.post("/v1/chat/completions", headers={"Authorization": "Bearer sk-cli-user-1"},
                                       json={"model": "echo", "messages": [{"role": "user", "content": f"hello {index}"}]})
                assert response.status_code == 200
        backup = run("backup", "--config", str(tmp_path / "seed.toml"), str(tmp_path / "copy.db"), cwd=tmp_path)
        assert backup.returncode == 0, backup.stderr
        assert "integrity ok" in backup.stdout
    with sqlite3.connect(tmp_path / "copy.db") as copy:
        assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert copy.execute("SELECT COUNT(*) FROM models").fetchone()[0] == 1
    usage = run("usage", "--database", str(tmp_path / "switchyard.db"), "--group-by", "model", cwd=tmp_path)
    assert usage.returncode == 0, usage.stderr
    assert usage.stdout.splitlines()[1].startswith("echo\t20\t0\t")
    assert run("backup", "--database", str(tmp_path / "switchyard.db"), str(tmp_path / "copy.db"), cwd=tmp_path).returncode == 1
    assert run("usage", "--database", str(tmp_path / "nope.db"), cwd=tmp_path).returncode == 1


def test_health_check_and_test_backend(tmp_path: Path) -> None:
    with FakeUpstream() as upstream:
        (tmp_path / "seed.toml").write_text(
            f'[providers.up]\nformat = "openai"\nbase_url = "{upstream.base_url}"\n'
            '[providers.dead]\nformat = "openai"\nbase_url = "http://127.0.0.1:9/v1"\n'
            '[models.a]\nbackends = [ { provider = "up", model = "gpt-x" } ]\n'
            '[models.b]\nbackends = [ { provider = "dead", model = "y" } ]\n')
        healthy = run("health-check", "--config", "seed.toml", "--provider", "up", cwd=tmp_path)
        assert healthy.returncode == 0 and "up\tmodels\tok" in healthy.stdout
        everyone = run("health-check", "--config", "seed.toml", cwd=tmp_path)
        assert everyone.returncode == 1 and "dead\tmodels\tFAILED" in everyone.stdout
        answer = run("test-backend", "--config", "seed.toml", "--provider", "up", "--model", "gpt-x", "--message", "ping", cwd=tmp_path)
        assert answer.returncode == 0, answer.stderr
        assert "HTTP 200" in answer.stdout and "upstream says: ping" in answer.stdout
        refused = run("test-backend", "--config", "seed.toml", "--provider", "dead", "--model", "y", cwd=tmp_path)
        assert refused.returncode == 1 and "unreachable" in refused.stderr.lower()


def test_importers_write_seeds_that_validate(tmp_path: Path) -> None:
    (tmp_path / "berry.toml").write_text(
        '[providers.openai]\nbase_url = "https://api.openai.com/v1"\napi_key = "sk-x"\nmodels = ["gpt-4"]\n'
        '[models.gpt_4]\nname = "gpt-4"\nstrategy = "failover"\n'
        '[[models.gpt_4.backends]]\nprovider = "openai"\nmodel = "gpt-4"\npriority = 1\n'
        '[users.dev]\ntoken = "dev-token-123"\nallowed_models = ["gpt-4"]\n')
    berry = run("import", "berry", "berry.toml", "--output", "seed.toml", cwd=tmp_path)
    assert berry.returncode == 0, berry.stderr
    assert "not imported: providers.openai.models" in berry.stderr
    assert run("validate", "seed.toml", cwd=tmp_path).returncode == 0

    env = {"LLM_PROVIDERS": "A", "LLM_PROVIDER_A_BASE_URL": "http://127.0.0.1:9/v1", "LLM_PROVIDER_A_API_KEY": "k"}
    imported = subprocess.run([str(gateway_binary()), "import", "env"], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                              env={"PATH": "/usr/bin:/bin", **env})
    assert imported.returncode == 0 and 'api_key = "env:LLM_PROVIDER_A_API_KEY"' in imported.stdout
    assert run("import", "berry", "missing.toml", cwd=tmp_path).returncode == 1


def test_backup_refuses_a_postgresql_database_and_names_pg_dump(tmp_path: Path) -> None:
    refused = run("backup", "--database", "postgres://gw@127.0.0.1:9/switchyard", str(tmp_path / "copy.db"), cwd=tmp_path)
    assert refused.returncode == 1, refused
    assert "pg_dump" in refused.stderr and not (tmp_path / "copy.db").exists()
