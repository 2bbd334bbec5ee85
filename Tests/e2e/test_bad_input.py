"""Random and malformed input to the client and admin APIs: never a server error, never a crash."""

from __future__ import annotations

import json
import random
from pathlib import Path

import httpx

from conftest import start_gateway

ADMIN = "fuzz-admin-token"
SEED = f"""
[server]
admin_token = "{ADMIN}"
[providers.demo]
format = "mock"
[models.chat.versions.v1]
weight = 90
default = true
backends = [ {{ provider = "demo", model = "a" }} ]
[models.chat.versions.v2]
weight = 10
backends = [ {{ provider = "demo", model = "b" }} ]
[models.embed]
backends = [ {{ provider = "demo", model = "e" }} ]
[users.u]
token = "sk-fuzz-user-1"
"""

VALUES = [None, True, 1, -1, 1e300, -1e300, 0.125, "x", "", [], {}, [1, "a"], {"a": 1}, "10m", "1e300s", "v1", "v2", "chat",
          {"set_weight": 1}, [{"pause": {}}], [{"set_weight": 1e300}], [{"pause": "1e300h"}], 100, 0.05, {"interval": "1e300s"}]
KEYS = ["model", "user", "api_user", "session_id", "strategy", "exclude_providers", "prompt", "max_tokens", "weights", "version",
        "weight", "to", "canary", "steps", "analysis", "name", "backends", "params", "active", "stream", "messages", "input",
        "dimensions", "stream_options"]
ROUTES = [("POST", "/api/routing/decide"), ("PUT", "/api/models/chat/split"), ("PUT", "/api/models/chat/weight"),
          ("PUT", "/api/models/chat/default"), ("POST", "/api/models/chat/rollback"), ("POST", "/api/models/chat/versions"),
          ("PUT", "/api/models/chat/versions/v2"), ("DELETE", "/api/models/chat/versions/v2"), ("POST", "/api/models/chat/rollouts"),
          ("PUT", "/api/models/chat/release"), ("POST", "/v1/chat/completions"), ("POST", "/v1/embeddings")]
RAW = ["{", "[]", "null", '"x"', '{"a":' + "[" * 300 + "]" * 300 + "}", ""]


def test_random_input_never_causes_a_server_error(tmp_path: Path, pytestconfig) -> None:
    generator = random.Random(20261122)
    with start_gateway(SEED, tmp_path, pytestconfig) as base, httpx.Client(base_url=base, timeout=10, trust_env=False) as client:
        failures = []
        for _ in range(800):
            method, path = generator.choice(ROUTES)
            body = {generator.choice(KEYS): generator.choice(VALUES) for _ in range(generator.randint(0, 4))}
            if path.startswith("/v1") and generator.random() < 0.5:
                body.setdefault("model", generator.choice(["chat", "embed"]))
                body.setdefault("messages", [{"role": "user", "content": "x"}])
            data = generator.choice(RAW) if generator.random() < 0.1 else json.dumps(body)
            token = "sk-fuzz-user-1" if path.startswith("/v1") else ADMIN
            response = client.request(method, path, content=data,
                                      headers={"Authorization": f"Bearer {token}", "content-type": "application/json"})
            if response.status_code >= 500 and response.status_code not in (502, 503, 504):
                failures.append((method, path, data[:120], response.status_code, response.text[:200]))
            if response.status_code >= 400:
                assert response.headers.get("content-type", "").startswith("application/json"), (path, response.text[:200])
        assert not failures, failures[:5]
        assert client.get("/health").status_code == 200, "the gateway is still up"
