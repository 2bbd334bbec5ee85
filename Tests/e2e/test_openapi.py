# Over 400 lines: one check per documented admin operation, all against this module's one gateway and document.
"""End-to-end tests of the admin API's OpenAPI document.

`Sources/SwitchyardGateway/Resources/openapi.json` is embedded in the binary and served at
`GET /api/openapi.json`. These tests keep it true:

1. the served document is the file, and a valid OpenAPI 3.1 document;
2. every documented operation is exercised with realistic requests, in an order that works
   (providers, models and the release API, rollouts, experiments, users, routing, settings,
   statistics, configuration); each real answer's status must be documented for the operation and
   its JSON body must validate against the documented schema (JSON Schema 2020-12, the dialect of
   OpenAPI 3.1), with every object closed: a field the server answers but the document does not
   list fails too. Every request body sent as valid is checked against the documented request
   schema, so the document cannot be stricter than the server either;
3. bad input (malformed JSON, a body that is no object, unknown fields, wrong types, missing
   fields, a body over 1 MiB) answers 400/413/422 with the shared error shape and a `field`;
4. the last test checks that every path and method of the document got a 2xx answer here, so an
   operation added to the document without a test, or to the server without the document, shows.

The module runs its own gateway on the seed below, with only the built-in `mock` provider;
everything listens on 127.0.0.1 and every loop is bounded.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import OPENAPI_DOCUMENT, GatewaySeed, chat, error_of

jsonschema = pytest.importorskip("jsonschema", reason="jsonschema is needed to check answers against the document")
referencing = pytest.importorskip("referencing", reason="referencing (installed with jsonschema) resolves the document's $refs")
from referencing.jsonschema import DRAFT202012  # noqa: E402

DOCUMENT_URI = "urn:switchyard:admin-openapi"

ADMIN_TOKEN = "e2e-openapi-admin"
USER_TOKEN = "sk-openapi-e2e-user"
LIMITED_TOKEN = "sk-openapi-e2e-limited"
ENV_KEY_NAME = "E2E_OPENAPI_PROVIDER_KEY"
MAX_ADMIN_BODY = 1 << 20
METHODS = ("get", "put", "post", "delete", "patch")

SEED = f"""\
[server]
admin_token = "{ADMIN_TOKEN}"

[settings]
max_retries = 0
health_check_interval_seconds = 0

[providers.mock]
format = "mock"

# chat: the release API's model (and the routing views').
[models.chat.versions.v1]
weight = 90
default = true
params = {{ temperature = 0.7 }}
backends = [
  {{ provider = "mock", model = "chat-a", weight = 3 }},
  {{ provider = "mock", model = "chat-b" }},
]
[models.chat.versions.v2]
weight = 10
backends = [ {{ provider = "mock", model = "chat-next" }} ]

# canary: rollouts.
[models.canary.versions.v1]
weight = 100
default = true
backends = [ {{ provider = "mock", model = "canary-v1" }} ]
[models.canary.versions.v2]
weight = 0
backends = [ {{ provider = "mock", model = "canary-v2" }} ]

# trial: experiments.
[models.trial.versions.v1]
weight = 50
default = true
backends = [ {{ provider = "mock", model = "trial-v1" }} ]
[models.trial.versions.v2]
weight = 50
backends = [ {{ provider = "mock", model = "trial-v2" }} ]

[users.tester]
token = "{USER_TOKEN}"

[users.limited]
token = "{LIMITED_TOKEN}"
allowed_models = ["trial"]
"""


# ---------------------------------------------------------------------------
# The document and a checker of real answers against it
# ---------------------------------------------------------------------------


def load_document() -> dict[str, Any]:
    return json.loads(OPENAPI_DOCUMENT.read_text())


def closed(node: Any) -> Any:
    """A copy of a schema tree in which every object schema listing `properties` without saying
    anything about other properties refuses them: answers may carry only documented fields."""
    if isinstance(node, list):
        return [closed(item) for item in node]
    if not isinstance(node, dict):
        return node
    result = {key: closed(value) for key, value in node.items()}
    kind = node.get("type")
    is_object = kind == "object" or (isinstance(kind, list) and "object" in kind)
    if is_object and "properties" in node and "additionalProperties" not in node:
        result["additionalProperties"] = False
    return result


def pointer(*parts: str) -> str:
    return "#/" + "/".join(part.replace("~", "~0").replace("/", "~1") for part in parts)


class Conformance:
    """Matches requests to documented operations, checks answers, remembers what was exercised."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.strict = closed(document)
        self.registry = referencing.Registry().with_resource(DOCUMENT_URI, DRAFT202012.create_resource(self.strict))
        self.loose_registry = referencing.Registry().with_resource(DOCUMENT_URI, DRAFT202012.create_resource(document))
        self.templates = []
        for template, item in document["paths"].items():
            segments = template.strip("/").split("/")
            literal = sum(1 for segment in segments if not segment.startswith("{"))
            for method in METHODS:
                if method in item:
                    self.templates.append((template, method, segments, literal))
        # (METHOD, template) -> statuses answered
        self.answered: dict[tuple[str, str], set[int]] = {}

    def operations(self) -> list[tuple[str, str]]:
        return [(method, template) for template, method, _, _ in self.templates]

    def match(self, method: str, path: str) -> str:
        segments = path.split("?")[0].strip("/").split("/")
        found = [
            (literal, template)
            for template, candidate, template_segments, literal in self.templates
            if candidate == method.lower() and len(template_segments) == len(segments)
            and all(t.startswith("{") or t == s for t, s in zip(template_segments, segments))
        ]
        assert found, f"{method.upper()} {path} is not a documented operation"
        return max(found)[1]

    def operation(self, method: str, template: str) -> dict[str, Any]:
        return self.document["paths"][template][method.lower()]

    def response_spec(self, method: str, template: str, status: int) -> tuple[dict[str, Any], str] | None:
        responses = self.operation(method, template)["responses"]
        key = str(status) if str(status) in responses else ("default" if "default" in responses else None)
        if key is None:
            return None
        spec = responses[key]
        location = pointer("paths", template, method.lower(), "responses", key)
        if "$ref" in spec:
            name = spec["$ref"].split("/")[-1]
            spec = self.document["components"]["responses"][name]
            location = pointer("components", "responses", name)
        return spec, location

    def schema_errors(self, instance: Any, location: str, strict: bool = True) -> list[str]:
        validator = jsonschema.Draft202012Validator(
            {"$ref": DOCUMENT_URI + location}, registry=self.registry if strict else self.loose_registry)
        return [f"{'/'.join(map(str, error.absolute_path)) or '<root>'}: {error.message}"
                for error in sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.absolute_path)))][:10]

    def check_request(self, method: str, template: str, body: Any, params: dict[str, Any] | None) -> None:
        operation = self.operation(method, template)
        if body is not None:
            assert "requestBody" in operation, f"{method.upper()} {template} documents no request body"
            location = pointer("paths", template, method.lower(), "requestBody", "content", "application/json", "schema")
            errors = self.schema_errors(body, location, strict=False)
            assert not errors, f"{method.upper()} {template}: the document refuses a valid request body {body}: {errors}"
        documented = {parameter["name"] for parameter in operation.get("parameters", []) if parameter["in"] == "query"}
        for name in params or {}:
            assert name in documented, f"{method.upper()} {template}: query parameter {name!r} is not documented"

    def check_response(self, method: str, template: str, response: httpx.Response) -> None:
        status = response.status_code
        self.answered.setdefault((method.upper(), template), set()).add(status)
        what = f"{method.upper()} {response.request.url.path} ({template})"
        found = self.response_spec(method, template, status)
        assert found is not None, (
            f"{what} answered {status}, which the document does not list "
            f"(documented: {sorted(self.operation(method, template)['responses'])}): {response.text[:500]}")
        spec, location = found
        content = spec.get("content")
        if not content:
            assert not response.content, f"{what} answered {status} with a body the document does not describe: {response.text[:300]}"
            return
        media = response.headers.get("content-type", "").split(";")[0].strip()
        media_types = {key.split(";")[0].strip(): key for key in content}
        assert media in media_types, f"{what} answered {status} as {media!r}; documented: {sorted(content)}"
        if media != "application/json":
            return
        try:
            body = response.json()
        except ValueError:
            pytest.fail(f"{what} answered {status} with invalid JSON: {response.text[:300]}")
        errors = self.schema_errors(body, location + "/content/" + media_types[media].replace("/", "~1") + "/schema")
        assert not errors, f"{what} answered {status} with a body that does not match the document: {errors}\n{response.text[:1500]}"


class Admin:
    """An admin API client that checks every request and answer against the document."""

    def __init__(self, http: httpx.Client, conformance: Conformance) -> None:
        self.http = http
        self.conformance = conformance

    def request(self, method: str, path: str, *, json: Any = None, content: bytes | None = None,
                params: dict[str, Any] | None = None, expect: int | tuple[int, ...] | None = None,
                valid: bool | None = None, headers: dict[str, str] | None = None) -> httpx.Response:
        """`valid`: check the request against the document (default: when a 2xx is expected)."""
        template = self.conformance.match(method, path)
        expected = None if expect is None else (expect if isinstance(expect, tuple) else (expect,))
        if valid is None:
            valid = expected is None or any(200 <= status < 300 for status in expected)
        if valid:
            self.conformance.check_request(method, template, json, params)
        kwargs: dict[str, Any] = {"params": params, "headers": headers}
        if json is not None:
            kwargs["json"] = json
        if content is not None:
            kwargs["content"] = content
            kwargs["headers"] = {"Content-Type": "application/json", **(headers or {})}
        response = self.http.request(method.upper(), path, **kwargs)
        if expected is not None:
            assert response.status_code in expected, (
                f"{method.upper()} {path}: expected {expected}, got {response.status_code}: {response.text[:800]}")
        self.conformance.check_response(method, template, response)
        return response

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("get", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("post", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("put", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("delete", path, **kwargs)


def field_of(response: httpx.Response) -> str | None:
    error = error_of(response)
    assert "field" in error, f"no 'field' in the error: {response.text}"
    return error["field"]


def audited(admin: Admin, object_key: str) -> list[dict[str, Any]]:
    response = admin.get("/api/audit", params={"object": object_key, "limit": 100}, expect=200)
    return response.json()["entries"]


# ---------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return load_document()


@pytest.fixture(scope="module")
def conformance(document: dict[str, Any]) -> Conformance:
    return Conformance(document)


@pytest.fixture(scope="module")
def gateway_seed() -> GatewaySeed:
    return GatewaySeed(SEED, ADMIN_TOKEN, USER_TOKEN, env={ENV_KEY_NAME: "sk-env-provider-secret-0001"})


@pytest.fixture(scope="module")
def admin(admin: httpx.Client, conformance: Conformance) -> Admin:
    """conftest's admin client, every answer checked against the document."""
    return Admin(admin, conformance)


# ---------------------------------------------------------------------------
# 1. The document
# ---------------------------------------------------------------------------


def test_served_document_is_the_file_and_valid_openapi_3_1(http: httpx.Client, document: dict[str, Any],
                                                           conformance: Conformance) -> None:
    response = http.get("/api/openapi.json")  # no token: the document is public
    assert response.status_code == 200, response.text[:500]
    assert response.headers["content-type"].split(";")[0] == "application/json"
    conformance.check_response("get", "/api/openapi.json", response)
    assert response.json() == document, "the served document differs from the file: rebuild the binary"
    assert document["openapi"].startswith("3.1.")

    try:
        from openapi_spec_validator import validate
    except ImportError:
        pytest.skip("openapi-spec-validator is not installed: the document was compared with the file but "
                    "not validated as OpenAPI 3.1 (pip install openapi-spec-validator)")
    validate(document)


def test_document_is_consistent(document: dict[str, Any], conformance: Conformance) -> None:
    """Every operation: an id, the admin token (except the document itself), documented errors for
    what it reads, and every schema resolvable."""
    ids = [conformance.operation(method, template)["operationId"] for method, template in conformance.operations()]
    assert len(ids) == len(set(ids)), "operationIds must be unique"
    assert document["security"] == [{"adminToken": []}]
    scheme = document["components"]["securitySchemes"]["adminToken"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    for method, template in conformance.operations():
        operation = conformance.operation(method, template)
        responses = operation["responses"]
        name = f"{method.upper()} {template}"
        if template == "/api/openapi.json":
            assert operation.get("security") == [], f"{name} must need no token"
            continue
        assert "security" not in operation, f"{name}: only /api/openapi.json overrides the global security"
        assert "401" in responses, f"{name} does not document 401"
        assert any(code.startswith("2") for code in responses), f"{name} documents no success"
        if "requestBody" in operation:
            # 422 for invalid values, except decide, which refuses every bad field with 400.
            for code in ("400", "413"):
                assert code in responses, f"{name} takes a body but does not document {code}"
        for parameter in operation.get("parameters", []):
            assert "{" + parameter["name"] + "}" in template or parameter["in"] != "path", name
        for media, content in operation.get("requestBody", {}).get("content", {}).items():
            if "example" in content:
                location = pointer("paths", template, method, "requestBody", "content", media, "schema")
                errors = conformance.schema_errors(content["example"], location, strict=False)
                assert not errors, f"{name}: the request example does not match its schema: {errors}"
        for parameter in operation.get("parameters", []):
            if "example" in parameter:
                assert jsonschema.Draft202012Validator(parameter["schema"]).is_valid(parameter["example"]), name
        for code, spec in responses.items():
            found = conformance.response_spec(method, template, int(code))
            assert found is not None
            spec, location = found
            if code.startswith(("4", "5")):
                assert spec["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}, (
                    f"{name} {code} must use the shared Error schema")
            for media in spec.get("content", {}):
                # Resolving validates every $ref on the way.
                conformance.schema_errors(None, location + "/content/" + media.replace("/", "~1") + "/schema")
        for segment in re.findall(r"{([^}]+)}", template):
            assert any(p["name"] == segment and p["in"] == "path" and p["required"] for p in operation.get("parameters", [])), (
                f"{name}: path parameter {segment} is not declared")


def test_every_operation_needs_the_admin_token(http: httpx.Client, conformance: Conformance) -> None:
    for method, template in conformance.operations():
        if template == "/api/openapi.json":
            continue
        path = re.sub(r"{[^}]+}", "x", template)
        body = {} if method in ("post", "put") else None
        for headers in ({}, {"Authorization": "Bearer wrong-admin-token"}, {"Authorization": f"Bearer {USER_TOKEN}"}):
            response = http.request(method.upper(), path, json=body, headers=headers)
            assert response.status_code == 401, f"{method.upper()} {path} with {headers}: {response.status_code} {response.text[:300]}"
            conformance.check_response(method, template, response)


# ---------------------------------------------------------------------------
# 2. Conformance, resource by resource
# ---------------------------------------------------------------------------


def test_providers(admin: Admin) -> None:
    listed = admin.get("/api/providers", expect=200).json()["providers"]
    ids = [provider["id"] for provider in listed]
    assert ids == sorted(ids) and "mock" in ids

    created = admin.post("/api/providers", expect=201, json={
        "id": "remote", "format": "openai", "base_url": "http://127.0.0.1:9/v1/", "api_key": "sk-test-1234567890abcd",
        "headers": {"X-Team": "e2e"}, "region": "eu", "timeout_seconds": 5, "cost_input_per_mtok": 1.5,
        "cost_output_per_mtok": 2, "health_check": "none", "enabled": True,
    }).json()
    assert created["api_key"] == "sk-…abcd", "a literal key is shown as its first 3 and last 4 characters"
    assert created["base_url"] == "http://127.0.0.1:9/v1"
    assert created["headers"] == {"X-Team": "…"} and created["region"] == "eu" and created["timeout_seconds"] == 5
    assert admin.get("/api/providers/remote", expect=200).json() == created
    assert "sk-test-1234567890abcd" not in admin.get("/api/providers", expect=200).text

    duplicate = admin.post("/api/providers", expect=409, json={"id": "remote", "format": "mock"})
    assert field_of(duplicate) == "id"

    env_key = admin.post("/api/providers", expect=201, json={
        "id": "env-keyed", "format": "anthropic", "api_key": f"env:{ENV_KEY_NAME}", "api_version": "2023-06-01",
        "health_check": "none", "cost_input_per_mtok": 3, "cost_output_per_mtok": 15}).json()
    assert env_key["api_key"] == f"env:{ENV_KEY_NAME}" and env_key["base_url"] in (None, "https://api.anthropic.com/v1")
    mocked = admin.post("/api/providers", expect=201, json={
        "id": "mock-anthropic", "format": "mock", "speaks": "anthropic", "models_path": "/models"}).json()
    assert mocked["speaks"] == "anthropic" and mocked["health_check"] == "none" and mocked["api_key"] is None

    # PUT replaces everything but keeps the stored key unless it names one or removes it with null.
    replaced = admin.put("/api/providers/remote", expect=200, json={
        "format": "openai", "base_url": "http://127.0.0.1:9/v2", "health_check": "none"}).json()
    assert replaced["api_key"] == "sk-…abcd" and replaced["region"] is None and replaced["headers"] == {}
    assert replaced["base_url"] == "http://127.0.0.1:9/v2"
    removed = admin.put("/api/providers/remote", expect=200, json={
        "format": "openai", "base_url": "http://127.0.0.1:9/v2", "health_check": "none", "api_key": None}).json()
    assert removed["api_key"] is None
    disabled = admin.put("/api/providers/mock-anthropic", expect=200, json={"format": "mock", "enabled": False}).json()
    assert disabled["enabled"] is False
    assert "mock-anthropic" in [p["id"] for p in admin.get("/api/providers", expect=200).json()["providers"]]

    # Model discovery of the mock: the models its backends name.
    models = admin.get("/api/providers/mock/models", expect=200).json()
    assert models["provider"] == "mock" and models["format"] == "mock"
    refreshed = admin.post("/api/providers/mock/refresh-models", expect=200).json()
    assert {"chat-a", "chat-b", "canary-v1", "trial-v1"} <= {model["id"] for model in refreshed["models"]}
    assert refreshed["error"] is None

    # A provider an enabled model uses cannot go.
    in_use = admin.delete("/api/providers/mock", expect=409)
    assert field_of(in_use) == "id"
    admin.delete("/api/providers/env-keyed", expect=204)
    admin.delete("/api/providers/mock-anthropic", expect=204)
    admin.get("/api/providers/env-keyed", expect=404)
    admin.put("/api/providers/env-keyed", expect=404, json={"format": "mock"})

    actions = [entry["action"] for entry in audited(admin, "provider:remote")]
    assert actions[-1] == "create" and actions.count("update") == 2, actions
    admin.delete("/api/providers/remote", expect=204)
    assert audited(admin, "provider:remote")[0]["action"] == "delete"


def test_models(admin: Admin) -> None:
    names = [model["name"] for model in admin.get("/api/models", expect=200).json()["models"]]
    assert names == sorted(names) and {"chat", "canary", "trial"} <= set(names)

    shorty = admin.post("/api/models", expect=201, json={
        "name": "shorty", "backends": [{"provider": "mock", "model": "short-a"}]}).json()
    assert shorty["default"] == "v1" and shorty["hash_seed"] == "shorty" and shorty["enabled"] is True
    assert [(v["name"], v["weight"], v["is_default"], v["is_active"]) for v in shorty["versions"]] == [("v1", 100, True, True)]
    assert shorty["versions"][0]["backends"][0]["deployment"] is None

    tiered = admin.post("/api/models", expect=201, json={
        "name": "tiered", "strategy": "failover", "sticky": "session", "hash_seed": "tiers", "release_strategy": "health",
        "smart_ai": {"exploration_ratio": 0.2}, "enabled": True,
        "versions": {
            "v1": {"weight": 70, "default": True, "params": {"temperature": 0.5},
                   "backends": [{"provider": "mock", "model": "t1", "priority": 1, "tags": ["gold"], "weight": 2,
                                 "mock": {"ttft_ms": 5, "latency_ms": 5, "chunks": 2, "error_rate": 0, "seed": 1}},
                                {"provider": "mock", "model": "t1b", "priority": 2, "deployment": "t1b-deploy"}]},
            "v2": {"weight": 30, "active": True, "backends": [{"provider": "mock", "model": "t2"}]},
        }}).json()
    assert (tiered["strategy"], tiered["sticky"], tiered["hash_seed"], tiered["release_strategy"]) == (
        "failover", "session", "tiers", "health")
    assert {v["name"]: v["weight"] for v in tiered["versions"]} == {"v1": 70, "v2": 30}
    assert admin.get("/api/models/tiered", expect=200).json() == tiered

    duplicate = admin.post("/api/models", expect=409, json={"name": "tiered", "backends": [{"provider": "mock", "model": "x"}]})
    assert field_of(duplicate) == "name"

    replaced = admin.put("/api/models/tiered", expect=200, json={"backends": [{"provider": "mock", "model": "t3"}]}).json()
    assert replaced["strategy"] == "weighted_random" and [v["name"] for v in replaced["versions"]] == ["v1"]
    assert replaced["hash_seed"] == "tiered"

    admin.delete("/api/models/shorty", expect=204)
    admin.get("/api/models/shorty", expect=404)
    admin.put("/api/models/shorty", expect=404, json={"backends": [{"provider": "mock", "model": "x"}]})
    assert "shorty" not in [m["name"] for m in admin.get("/api/models", expect=200).json()["models"]]
    assert [entry["action"] for entry in audited(admin, "model:tiered")][-2:] == ["update", "create"]


def test_release_api(admin: Admin) -> None:
    listed = admin.get("/api/models/chat/versions", expect=200).json()
    assert [v["name"] for v in listed["versions"]] == ["v1", "v2"]

    created = admin.post("/api/models/chat/versions", expect=201, json={
        "name": "v3", "weight": 0, "active": True, "params": {"max_tokens": 20},
        "backends": [{"provider": "mock", "model": "chat-v3", "weight": 1, "priority": 0, "tags": []}]}).json()
    assert created == {**created, "name": "v3", "weight": 0, "is_default": False, "is_active": True}
    duplicate = admin.post("/api/models/chat/versions", expect=409, json={
        "name": "v3", "backends": [{"provider": "mock", "model": "chat-v3"}]})
    assert field_of(duplicate) == "name"
    assert admin.put("/api/models/chat/versions/v3", expect=200, json={"weight": 5}).json()["weight"] == 5
    admin.put("/api/models/chat/versions/v3", expect=200, json={
        "params": {"max_tokens": 30}, "backends": [{"provider": "mock", "model": "chat-v3b"}], "active": True})

    split = admin.put("/api/models/chat/split", expect=200, json={"weights": {"v1": 80, "v2": 10, "v3": 10}}).json()
    assert split["split"] == {"v1": 80, "v2": 10, "v3": 10}
    bad_sum = admin.put("/api/models/chat/split", expect=422, json={"weights": {"v1": 80, "v2": 10}})
    assert field_of(bad_sum) == "weights"
    assert admin.put("/api/models/chat/split", expect=404, json={"weights": {"v1": 90, "nope": 10}}).json()["error"]["field"] == "weights.nope"
    assert admin.put("/api/models/chat/weight", expect=200, json={"version": "v3", "weight": 2.5}).json()["split"]["v3"] == 2.5
    assert field_of(admin.put("/api/models/chat/weight", expect=422, json={"version": "v1", "weight": 50})) == "version"

    strategy = admin.put("/api/models/chat/release", expect=200, json={"strategy": "round_robin"}).json()
    assert strategy["strategy"] == "round_robin" and strategy["effective_strategy"] == "round_robin"
    admin.put("/api/models/chat/release", expect=200, json={"strategy": "weight"})
    assert field_of(admin.put("/api/models/chat/release", expect=422, json={"strategy": "fastest"})) == "strategy"

    new_default = admin.put("/api/models/chat/default", expect=200, json={"version": "v2"}).json()
    assert new_default["default"] == "v2" and new_default["previous_default"] == "v1"
    back = admin.post("/api/models/chat/rollback", expect=200, json={}).json()
    assert back["default"] == "v1" and back["split"]["v1"] == 100
    assert admin.post("/api/models/chat/rollback", expect=200, json={"to": "v1"}).json()["default"] == "v1"
    assert admin.post("/api/models/chat/refresh", expect=200).json()["model"] == "chat"

    assert field_of(admin.delete("/api/models/chat/versions/v1", expect=422)) == "version"
    admin.delete("/api/models/chat/versions/v3", expect=204)
    admin.delete("/api/models/chat/versions/v3", expect=404)
    admin.put("/api/models/chat/split", expect=200, json={"weights": {"v1": 90, "v2": 10}})
    release = admin.get("/api/models/chat/release", expect=200).json()
    assert release["split"] == {"v1": 90, "v2": 10} and release["rollout"] is None

    weights = admin.get("/api/models/chat/weights", expect=200).json()
    assert [v["version"] for v in weights["versions"]] == ["v1", "v2"]
    assert weights["versions"][0]["backends"][0] == {**weights["versions"][0]["backends"][0], "backend": "mock/chat-a", "weight": 3}

    for response in (admin.get("/api/models/nope/versions", expect=404), admin.get("/api/models/nope/release", expect=404)):
        assert field_of(response) == "model"
    actions = {entry["action"] for entry in audited(admin, "model:chat")}
    assert {"create_version", "update_version", "delete_version", "set_split", "set_weight", "set_default", "rollback",
            "set_release_strategy"} <= actions


def test_rollouts(admin: Admin) -> None:
    started = admin.post("/api/models/canary/rollouts", expect=201, json={
        "canary": "v2",
        "steps": [{"set_weight": 10}, {"pause": {}}, {"set_weight": 20}, {"pause": "1h"}],
        "analysis": {"interval": "30s", "window": "5m", "min_requests": 10, "max_error_rate": 0.5,
                     "max_p95_latency_ms": 5000, "max_p95_ttft_ms": 5000, "max_error_rate_increase": 0.1,
                     "max_latency_ratio": 3, "significance": 0.05, "failure_limit": 3}}).json()
    rollout_id = started["id"]
    assert (started["state"], started["reason"], started["current_step"], started["canary_weight"]) == ("paused", "step", 1, 10)
    assert started["steps"] == [{"set_weight": 10}, {"pause": {}}, {"set_weight": 20}, {"pause": "3600s"}]
    assert field_of(admin.post("/api/models/canary/rollouts", expect=409, json={"canary": "v2", "steps": [{"pause": {}}]})) == "model"
    assert field_of(admin.post("/api/models/trial/rollouts", expect=404, json={"canary": "v9", "steps": [{"pause": {}}]})) == "canary"

    assert admin.get(f"/api/rollouts/{rollout_id}", expect=200).json()["id"] == rollout_id
    release = admin.get("/api/models/canary/release", expect=200).json()
    assert release["rollout"]["id"] == rollout_id and release["effective_strategy"] == "weight"
    assert admin.get("/api/system", expect=200).json()["counts"]["running_rollouts"] >= 1

    # The model cannot be replaced or deleted while its rollout runs.
    admin.put("/api/models/canary", expect=409, json={"backends": [{"provider": "mock", "model": "x"}]})
    admin.delete("/api/models/canary", expect=409)

    paused = admin.post(f"/api/rollouts/{rollout_id}/pause", expect=200).json()
    assert (paused["state"], paused["reason"]) == ("paused", "manual")
    resumed = admin.post(f"/api/rollouts/{rollout_id}/resume", expect=200).json()
    assert resumed["reason"] != "manual"
    skipped = admin.post(f"/api/rollouts/{rollout_id}/promote", expect=200).json()
    assert (skipped["current_step"], skipped["canary_weight"]) == (3, 20)
    promoted = admin.post(f"/api/rollouts/{rollout_id}/promote", params={"full": "true"}, expect=200).json()
    assert (promoted["state"], promoted["canary_weight"]) == ("promoted", 100)
    assert field_of(admin.post(f"/api/rollouts/{rollout_id}/abort", expect=409)) == "id"

    # Back to v1 with a second rollout, aborted.
    second = admin.post("/api/models/canary/rollouts", expect=201, json={
        "canary": "v1", "steps": [{"set_weight": 5}, {"pause": {}}]}).json()
    aborted = admin.post(f"/api/rollouts/{second['id']}/abort", expect=200).json()
    assert (aborted["state"], aborted["reason"], aborted["canary_weight"]) == ("aborted", "aborted by admin", 0)
    for action in ("promote", "pause", "resume"):
        admin.post(f"/api/rollouts/{second['id']}/{action}", expect=409)
    for action in ("promote", "pause", "resume", "abort"):
        assert field_of(admin.post(f"/api/rollouts/r-000000000000/{action}", expect=404)) == "id"
    assert field_of(admin.get("/api/rollouts/r-000000000000", expect=404)) == "id"
    assert [entry["action"] for entry in audited(admin, f"rollout:{rollout_id}")][-1] == "start"

    # The history: both, finished, newest first; a page at a time.
    history = admin.get("/api/rollouts", params={"model": "canary"}, expect=200).json()
    assert [r["id"] for r in history["rollouts"]] == [second["id"], rollout_id] and history["next"] is None
    assert history["rollouts"][1]["state"] == "promoted" and history["rollouts"][1]["ended_at"] is not None
    first = admin.get("/api/models/canary/rollouts", params={"limit": 1, "since": "2020-01-01T00:00:00Z"}, expect=200).json()
    assert [r["id"] for r in first["rollouts"]] == [second["id"]] and first["next"]
    rest = admin.get("/api/models/canary/rollouts", params={"limit": 1, "before": first["next"]}, expect=200).json()
    assert [r["id"] for r in rest["rollouts"]] == [rollout_id] and rest["next"] is None
    promoted_only = admin.get("/api/models/canary/rollouts", params={"state": "promoted"}, expect=200).json()
    assert [r["id"] for r in promoted_only["rollouts"]] == [rollout_id]


def test_shadow(admin: Admin, http: httpx.Client) -> None:
    release = admin.get("/api/models/canary/release", expect=200).json()
    default = release["default"]
    candidate = next(version["name"] for version in release["versions"] if version["name"] != default)
    body = {"version": candidate, "share": 100, "max_in_flight": 8, "keep_examples": 2}
    shown = admin.put("/api/models/canary/shadow", expect=200, json=body).json()
    assert shown["shadow"] == body and shown["effective"] == body and shown["source"] == "model"
    for index in range(5):
        assert chat(http, "canary", user=f"shadowed-{index}", token=USER_TOKEN).status_code == 200
    deadline = time.monotonic() + 10
    results = admin.get("/api/models/canary/shadow/results", expect=200).json()
    while results["shadow"]["requests"] < 5 and time.monotonic() < deadline:
        time.sleep(0.2)
        results = admin.get("/api/models/canary/shadow/results", expect=200).json()
    assert results["version"] == candidate and results["shadow"]["requests"] == 5 and results["primary"]["requests"] == 5, results
    assert results["agreement"]["compared"] == 5 and len(results["agreement"]["histogram"]) == 10
    assert admin.get("/api/models/canary/shadow", expect=200).json()["effective"]["version"] == candidate
    assert field_of(admin.put("/api/models/canary/shadow", expect=422, json={"version": default, "share": 5})) == "shadow.version"
    assert field_of(admin.put("/api/models/canary/shadow", expect=404, json={"version": "v7", "share": 5})) == "version"
    stopped = admin.delete("/api/models/canary/shadow", expect=200).json()
    assert stopped["shadow"] is None and stopped["effective"] is None
    assert field_of(admin.get("/api/models/canary/shadow/results", expect=400)) == "version"
    assert admin.get("/api/models/canary/shadow/results", expect=200, params={"version": candidate, "since": "0"}).json()["shadow"]["requests"] == 5

    rollout = admin.post("/api/models/canary/rollouts", expect=201, json={
        "canary": candidate, "steps": [{"shadow": {"share": 50, "duration": "1h", "min_requests": 10}}, {"set_weight": 5}],
        "analysis": {"min_agreement": 0.5}}).json()
    assert rollout["shadow_verdict"] == "running" and rollout["canary_weight"] == 0
    assert rollout["steps"][0] == {"shadow": {"share": 50, "duration": "3600s", "min_requests": 10}}
    assert admin.get("/api/models/canary/shadow", expect=200).json()["source"] == "rollout"
    assert admin.post(f"/api/rollouts/{rollout['id']}/abort", expect=200).json()["shadow_verdict"] == "stopped"
    assert {"set_shadow", "stop_shadow"} <= {entry["action"] for entry in audited(admin, "model:canary")}


def test_experiments(admin: Admin, http: httpx.Client) -> None:
    created = admin.post("/api/experiments", expect=201, json={
        "name": "tuned prompt", "description": "does v2 do better?", "model": "trial", "strategy": "consistent_hash",
        "hash_seed": "trial-seed", "min_samples": 10, "control": "base", "created_by": "e2e",
        "end_time": "2999-01-01T00:00:00Z",
        "variants": [
            {"id": "base", "name": "Base", "version": "v1", "weight": 1, "description": "the default"},
            {"id": "next", "version": "v2", "weight": 1},
            {"id": "other", "model": "chat", "weight": 2},
        ]}).json()
    experiment_id = created["id"]
    assert created["status"] == "draft" and [v["share"] for v in created["variants"]] == [0.25, 0.25, 0.5]
    assert created["end_time"] == pytest.approx(32472144000)
    admin.post("/api/experiments", expect=422, json={
        "name": "bad control", "model": "trial", "control": "nobody",
        "variants": [{"id": "a", "version": "v1"}, {"id": "b", "version": "v2"}]})

    page = admin.get("/api/experiments", params={"status": "draft", "model": "trial", "created_by": "e2e",
                                                  "limit": 10, "offset": 0}, expect=200).json()
    assert page["total"] >= 1 and page["experiments"][0]["id"] == experiment_id and page["limit"] == 10
    assert admin.get(f"/api/experiments/{experiment_id}", expect=200).json() == created

    running = admin.post(f"/api/experiments/{experiment_id}/start", expect=200).json()
    assert running["status"] == "running" and running["started_at"] is not None
    assert field_of(admin.post(f"/api/experiments/{experiment_id}/start", expect=409)) == "status"
    assert field_of(admin.delete(f"/api/experiments/{experiment_id}", expect=409)) == "status"
    admin.put("/api/models/trial", expect=409, json={"backends": [{"provider": "mock", "model": "x"}]})

    # A served request of the experiment, its decision and feedback on it.
    answer = chat(http, "trial", user="feedback-user", token=USER_TOKEN)
    assert answer.status_code == 200, answer.text
    assert answer.headers.get("x-switchyard-experiment") == experiment_id, dict(answer.headers)
    request_id = answer.headers["x-request-id"]
    decision = admin.post("/api/routing/decide", expect=200, json={"model": "trial", "user": "feedback-user"}).json()
    assert decision["experiment"]["id"] == experiment_id
    feedback = admin.post(f"/api/experiments/{experiment_id}/feedback", expect=201,
                          json={"request_id": request_id, "score": 4.5, "user": "alice"}).json()
    assert feedback == {"experiment": experiment_id, "variant": answer.headers["x-switchyard-variant"],
                        "request_id": request_id, "score": 4.5, "user": "alice"}
    admin.post(f"/api/experiments/{experiment_id}/feedback", expect=201, json={"request_id": request_id, "score": -1})
    unknown = admin.post(f"/api/experiments/{experiment_id}/feedback", expect=404, json={"request_id": "nope", "score": 1})
    assert field_of(unknown) == "request_id"

    results = admin.get(f"/api/experiments/{experiment_id}/results", expect=200).json()
    assert [variant["id"] for variant in results["variants"]] == ["base", "next", "other"]
    assert sum(variant["requests"] for variant in results["variants"]) >= 1
    assert sum(variant["feedback"]["count"] for variant in results["variants"]) == 1

    assert admin.post(f"/api/experiments/{experiment_id}/pause", expect=200).json()["status"] == "paused"
    assert admin.post(f"/api/experiments/{experiment_id}/complete", expect=200, json={}).json()["status"] == "completed"
    assert field_of(admin.post(f"/api/experiments/{experiment_id}/pause", expect=409)) == "status"
    admin.delete(f"/api/experiments/{experiment_id}", expect=204)
    for response in (admin.get(f"/api/experiments/{experiment_id}", expect=404),
                     admin.get(f"/api/experiments/{experiment_id}/results", expect=404),
                     admin.post(f"/api/experiments/{experiment_id}/start", expect=404),
                     admin.delete(f"/api/experiments/{experiment_id}", expect=404)):
        assert field_of(response) == "id"
    assert audited(admin, f"experiment:{experiment_id}"), "experiment transitions are audited"


def test_users(admin: Admin, http: httpx.Client) -> None:
    ids = [user["id"] for user in admin.get("/api/users", expect=200).json()["users"]]
    assert ids == sorted(ids) and {"tester", "limited"} <= set(ids)
    assert USER_TOKEN not in admin.get("/api/users", expect=200).text

    created = admin.post("/api/users", expect=201, json={
        "id": "carol", "name": "Carol", "allowed_models": ["chat"], "tags": ["gold"], "region": "eu",
        "rate_limit": {"requests_per_minute": 100, "requests_per_hour": 1000, "tokens_per_minute": 100000},
        "budget": {"daily_usd": 5, "monthly_usd": 50}, "enabled": True}).json()
    token = created.pop("token")
    assert re.fullmatch(r"sk-sy-[0-9a-f]{40}", token), token
    assert created["rate_limit"] == {"requests_per_minute": 100, "requests_per_hour": 1000, "tokens_per_minute": 100000}
    assert created["budget"] == {"daily_usd": 5, "monthly_usd": 50}
    assert admin.get("/api/users/carol", expect=200).json() == created
    assert chat(http, "chat", token=token).status_code == 200
    assert chat(http, "trial", token=token).status_code == 403

    assert field_of(admin.post("/api/users", expect=409, json={"id": "carol"})) == "id"
    assert field_of(admin.post("/api/users", expect=422, json={"id": "dave", "token": "sk-chosen-token"})) == "token"
    assert field_of(admin.post("/api/users", expect=422, json={"id": "dave", "allowed_models": ["nope"]})) == "allowed_models"
    minimal = admin.post("/api/users", expect=201, json={"id": "dave"}).json()
    assert (minimal["name"], minimal["region"], minimal["rate_limit"], minimal["budget"], minimal["allowed_models"]) == (
        None, None, None, None, [])

    updated = admin.put("/api/users/carol", expect=200, json={"name": "Carol B", "region": None, "budget": None}).json()
    assert (updated["name"], updated["region"], updated["budget"], updated["tags"]) == ("Carol B", None, None, ["gold"])
    assert admin.put("/api/users/carol", expect=200, json={"enabled": False}).json()["enabled"] is False
    assert chat(http, "chat", token=token).status_code == 401
    admin.put("/api/users/carol", expect=200, json={"enabled": True})

    rotated = admin.post("/api/users/carol/rotate-token", expect=200).json()
    assert rotated["id"] == "carol" and rotated["token"] != token
    assert chat(http, "chat", token=token).status_code == 401, "the old token must stop working at once"
    assert chat(http, "chat", token=rotated["token"]).status_code == 200

    admin.delete("/api/users/carol", expect=204)
    admin.delete("/api/users/dave", expect=204)
    assert chat(http, "chat", token=rotated["token"]).status_code == 401
    for response in (admin.get("/api/users/carol", expect=404), admin.put("/api/users/carol", expect=404, json={"name": "x"}),
                     admin.post("/api/users/carol/rotate-token", expect=404), admin.delete("/api/users/carol", expect=404)):
        assert field_of(response) == "id"


def test_routing_views(admin: Admin, http: httpx.Client) -> None:
    decision = admin.post("/api/routing/decide", expect=200, json={
        "model": "chat", "user": "a", "api_user": "tester", "session_id": "conv-decide", "prompt": "Hello",
        "max_tokens": 10, "preferred_region": "eu", "exclude_providers": ["elsewhere"], "strategy": "least_latency"}).json()
    assert decision["session"] == {"id": "conv-decide", "use": "new"} and decision["strategy"] == "least_latency"
    plain = admin.post("/api/routing/decide", expect=200, json={"model": "chat", "user": None, "strategy": "latency_first"}).json()
    assert plain["session"] is None and plain["experiment"] is None

    assert field_of(admin.post("/api/routing/decide", expect=404, json={"model": "nope"})) == "model"
    assert field_of(admin.post("/api/routing/decide", expect=404, json={"model": "chat", "api_user": "nobody"})) == "api_user"
    assert field_of(admin.post("/api/routing/decide", expect=403, json={"model": "chat", "api_user": "limited"})) == "model"
    refused = admin.post("/api/routing/decide", expect=409, json={"model": "chat", "exclude_providers": ["mock"]})
    assert field_of(refused) == "model" and "503 (no_healthy_backend)" in refused.json()["error"]["message"], refused.text
    assert field_of(admin.post("/api/routing/decide", expect=400, json={"model": "chat", "strategy": "fastest"})) == "strategy"

    rows = admin.get("/api/health/backends", expect=200).json()["backends"]
    assert {("chat", "v1", "mock/chat-a"), ("chat", "v2", "mock/chat-next")} <= {(r["model"], r["version"], r["backend"]) for r in rows}
    assert field_of(admin.get("/api/models/nope/weights", expect=404)) == "name"

    session_id = f"conv-{uuid.uuid4().hex[:8]}"
    answer = chat(http, "chat", token=USER_TOKEN, headers={"x-session-id": session_id})
    assert answer.status_code == 200, answer.text
    deadline = time.monotonic() + 5
    binding = admin.get(f"/api/routing/sessions/{session_id}", expect=(200, 404))
    while binding.status_code == 404 and time.monotonic() < deadline:
        time.sleep(0.1)
        binding = admin.get(f"/api/routing/sessions/{session_id}", expect=(200, 404))
    assert binding.status_code == 200, binding.text
    assert binding.json()["user"] == "tester" and len(binding.json()["bindings"]) == 1
    admin.delete(f"/api/routing/sessions/{session_id}", expect=204)
    assert field_of(admin.get(f"/api/routing/sessions/{session_id}", expect=404)) == "id"
    assert field_of(admin.delete(f"/api/routing/sessions/{session_id}", expect=404)) == "id"


def test_settings(admin: Admin) -> None:
    before = admin.get("/api/settings", expect=200).json()
    assert before["max_retries"] == 0 and before["health_check_interval_seconds"] == 0
    assert "first_byte_timeout_seconds" not in before

    changed = admin.put("/api/settings", expect=200, json={
        "max_retries": 1, "first_byte_timeout_seconds": 10, "smart_ai": {"exploration_ratio": 0.2}}).json()
    assert changed["max_retries"] == 1 and changed["first_byte_timeout_seconds"] == 10
    assert changed["smart_ai"] == {**before["smart_ai"], "exploration_ratio": 0.2}
    assert changed["request_timeout_seconds"] == before["request_timeout_seconds"]
    assert admin.get("/api/settings", expect=200).json() == changed

    reset = admin.put("/api/settings", expect=200, json={"first_byte_timeout_seconds": None, "max_retries": 0}).json()
    assert "first_byte_timeout_seconds" not in reset and reset["max_retries"] == 0
    assert field_of(admin.put("/api/settings", expect=422, json={"max_retries": 11})) == "max_retries"
    assert field_of(admin.put("/api/settings", expect=422, json={"smart_ai": {"initial_confidence": 2}})) == "smart_ai.initial_confidence"
    assert [entry["action"] for entry in audited(admin, "settings")][:2] == ["update", "update"]


def test_audit_and_usage(admin: Admin, http: httpx.Client) -> None:
    assert chat(http, "chat", token=USER_TOKEN).status_code == 200
    entries = admin.get("/api/audit", params={"limit": 5}, expect=200).json()["entries"]
    assert 1 <= len(entries) <= 5
    times = [entry["time"] for entry in entries]
    assert times == sorted(times, reverse=True)
    since = admin.get("/api/audit", params={"object": "model:chat", "since": "0", "limit": 10000}, expect=200).json()["entries"]
    assert since and all(entry["object"] == "model:chat" for entry in since)
    admin.get("/api/audit", params={"since": "2000-01-01T00:00:00Z"}, expect=200)
    assert field_of(admin.get("/api/audit", params={"limit": 0}, expect=400)) == "limit"
    assert field_of(admin.get("/api/audit", params={"since": "yesterday"}, expect=400)) == "since"

    for group in ("user", "model", "version", "day"):
        usage = admin.get("/api/usage", params={"group_by": group}, expect=200).json()
        assert usage["group_by"] == group
    admin.get("/api/usage", params={"user": "tester", "model": "chat", "from": "2000-01-01", "to": str(time.time() + 60)},
              expect=200)
    assert field_of(admin.get("/api/usage", params={"group_by": "week"}, expect=400)) == "group_by"
    assert field_of(admin.get("/api/usage", params={"from": "soon"}, expect=400)) == "from"


def test_stats_and_system(admin: Admin) -> None:
    series = admin.get("/api/stats/timeseries", expect=200).json()
    assert series["step"] == 60 and 60 <= len(series["points"]) <= 61
    assert series["to"] - series["from"] == pytest.approx(3600, abs=60)
    now = time.time()
    narrowed = admin.get("/api/stats/timeseries", params={
        "model": "chat", "version": "v1", "backend": "mock/chat-a", "from": str(now - 600), "to": str(now), "step": 120},
        expect=200).json()
    assert narrowed["step"] == 120 and 5 <= len(narrowed["points"]) <= 6
    assert [p["time"] for p in narrowed["points"]] == sorted(p["time"] for p in narrowed["points"])
    assert field_of(admin.get("/api/stats/timeseries", params={"step": 61}, expect=400)) == "step"
    assert field_of(admin.get("/api/stats/timeseries", params={"from": "0", "step": 60}, expect=400)) == "step"
    assert field_of(admin.get("/api/stats/timeseries", params={"from": "later"}, expect=400)) == "from"

    system = admin.get("/api/system", expect=200).json()
    assert system["version"] == admin.conformance.document["info"]["version"], "the document's info.version is the release's"
    assert system["counts"]["models"] >= 3 and system["counts"]["users"] >= 2 and system["uptime_seconds"] >= 0
    assert system["database"]["path"] and system["database"]["size_bytes"] > 0


def test_configuration(admin: Admin, gateway_workdir: Path) -> None:
    status = admin.get("/api/config/status", expect=200).json()
    assert status["seed_path"] and Path(status["seed_path"]).name == "seed.toml"
    assert status["result"] == "applied" and re.fullmatch(r"[0-9a-f]{64}", status["last_hash"] or "")

    exported = admin.get("/api/config/export", expect=200)
    assert exported.headers["content-type"].startswith("text/plain")
    assert "[providers.mock]" in exported.text and "[users.tester]" in exported.text
    assert USER_TOKEN not in exported.text and ADMIN_TOKEN not in exported.text

    reloaded = admin.post("/api/config/reload", expect=200).json()
    assert reloaded["result"] in ("applied", "unchanged") and reloaded["errors"] == []

    seed = gateway_workdir / "seed.toml"
    original = seed.read_text()
    try:
        seed.write_text(original + '\n[models.broken]\nstrategy = "fastest"\nbackends = [ { provider = "mock", model = "x" } ]\n')
        invalid = admin.post("/api/config/reload", expect=422)
        assert field_of(invalid) == "models.broken.strategy"
        after = admin.get("/api/config/status", expect=200).json()
        assert after["result"] == "invalid" and after["errors"][0]["key"] == "models.broken.strategy"
        assert "broken" not in [m["name"] for m in admin.get("/api/models", expect=200).json()["models"]]
    finally:
        seed.write_text(original)
    assert admin.post("/api/config/reload", expect=200).json()["result"] in ("applied", "unchanged")


def test_secrets_never_leave(admin: Admin, http: httpx.Client) -> None:
    """A literal provider key and a user token are never answered in clear: not by the objects,
    not by the audit log, not by the export."""
    key = "sk-secret-key-0123456789wxyz"
    admin.post("/api/providers", expect=201, json={
        "id": "secretive", "format": "openai", "base_url": "http://127.0.0.1:9/v1", "api_key": key, "health_check": "none"})
    admin.put("/api/providers/secretive", expect=200, json={"format": "openai", "base_url": "http://127.0.0.1:9/v1",
                                                             "health_check": "none", "region": "eu"})
    token = admin.post("/api/users", expect=201, json={"id": "hush"}).json()["token"]
    rotated = admin.post("/api/users/hush/rotate-token", expect=200).json()["token"]
    try:
        answers = {
            "GET /api/providers": admin.get("/api/providers", expect=200).text,
            "GET /api/providers/secretive": admin.get("/api/providers/secretive", expect=200).text,
            "GET /api/users/hush": admin.get("/api/users/hush", expect=200).text,
            "GET /api/config/export": admin.get("/api/config/export", expect=200).text,
            "GET /api/audit?object=provider:secretive": admin.get(
                "/api/audit", params={"object": "provider:secretive"}, expect=200).text,
            "GET /api/audit?object=user:hush": admin.get("/api/audit", params={"object": "user:hush"}, expect=200).text,
        }
        leaks = [f"{where} shows {what}" for where, text in answers.items()
                 for what, secret in (("the provider key", key), ("the first token", token), ("the rotated token", rotated))
                 if secret in text]
        assert not leaks, "secrets answered in clear:\n  " + "\n  ".join(leaks)
    finally:
        admin.delete("/api/providers/secretive", expect=204)
        admin.delete("/api/users/hush", expect=204)


# ---------------------------------------------------------------------------
# 3. Bad input
# ---------------------------------------------------------------------------

# Every operation that reads a JSON body: (method, path, a valid body used as the base of the
# unknown-field case, a wrong-typed body, the field that must be named for it).
# The valid bases never apply: the unknown field refuses the whole body.
EXPERIMENT_BODY = {"name": "typed", "model": "trial", "control": "a",
                   "variants": [{"id": "a", "version": "v1"}, {"id": "b", "version": "v2"}]}
BODY_CASES: list[tuple[str, str, dict[str, Any], dict[str, Any], str]] = [
    ("post", "/api/routing/decide", {"model": "chat"}, {"model": 5}, "model"),
    ("post", "/api/models/chat/versions", {"name": "v9", "backends": [{"provider": "mock", "model": "x"}]},
     {"name": "v9", "backends": "none"}, "backends"),
    ("put", "/api/models/chat/versions/v2", {"weight": 10}, {"active": "yes"}, "active"),
    ("put", "/api/models/chat/release", {"strategy": "weight"}, {"strategy": 1}, "strategy"),
    ("put", "/api/models/chat/split", {"weights": {"v1": 90, "v2": 10}}, {"weights": {"v1": "all"}}, "weights.v1"),
    ("put", "/api/models/chat/weight", {"version": "v2", "weight": 10}, {"version": "v2", "weight": "5"}, "weight"),
    ("put", "/api/models/chat/default", {"version": "v1"}, {"version": 2}, "version"),
    ("post", "/api/models/chat/rollback", {"to": "v1"}, {"to": 1}, "to"),
    ("put", "/api/models/chat/shadow", {"version": "v2", "share": 10}, {"version": "v2", "share": "ten"}, "share"),
    ("post", "/api/models/chat/rollouts", {"canary": "v2", "steps": [{"pause": {}}]},
     {"canary": "v2", "steps": [{"pause": "soon"}]}, "steps[0].pause"),
    ("post", "/api/experiments", EXPERIMENT_BODY, {**EXPERIMENT_BODY, "min_samples": "many"}, "min_samples"),
    ("post", "/api/providers", {"id": "p-typed", "format": "mock"}, {"id": "p-typed", "format": "mock", "timeout_seconds": "5"},
     "timeout_seconds"),
    ("put", "/api/providers/mock", {"format": "mock"}, {"format": "mock", "enabled": "yes"}, "enabled"),
    ("post", "/api/models", {"name": "m-typed", "backends": [{"provider": "mock", "model": "x"}]},
     {"name": "m-typed", "backends": [{"provider": "mock", "model": "x", "weight": "heavy"}]}, "backends[0].weight"),
    ("put", "/api/models/chat", {"versions": {"v1": {"weight": 90, "default": True, "backends": [{"provider": "mock", "model": "chat-a"}]},
                                              "v2": {"weight": 10, "backends": [{"provider": "mock", "model": "chat-next"}]}}},
     {"backends": [{"provider": "mock", "model": "x", "priority": 1.5}]}, "backends[0].priority"),
    ("post", "/api/users", {"id": "u-typed"}, {"id": "u-typed", "rate_limit": {"requests_per_minute": "ten"}},
     "rate_limit.requests_per_minute"),
    ("put", "/api/users/tester", {"name": "Tester"}, {"tags": "gold"}, "tags"),
    ("put", "/api/settings", {"max_retries": 0}, {"max_retries": "two"}, "max_retries"),
    ("post", "/api/experiments/{experiment}/feedback", {"request_id": "r", "score": 1}, {"request_id": "r", "score": "high"}, "score"),
]
NO_BODY_CALLS = ["/api/experiments/{experiment}/start", "/api/experiments/{experiment}/pause", "/api/experiments/{experiment}/complete"]


@pytest.fixture(scope="module")
def draft_experiment(admin: Admin) -> str:
    response = admin.post("/api/experiments", expect=201, json={**EXPERIMENT_BODY, "name": "bad-input target"})
    return response.json()["id"]


def test_bad_bodies_are_refused_with_a_field(admin: Admin, conformance: Conformance, draft_experiment: str) -> None:
    paths = {method + " " + conformance.match(method, path.format(experiment=draft_experiment))
             for method, path, *_ in BODY_CASES}
    paths |= {"post " + conformance.match("post", path.format(experiment=draft_experiment)) for path in NO_BODY_CALLS}
    with_body = {f"{method} {template}" for method, template in conformance.operations()
                 if "requestBody" in conformance.operation(method, template)}
    assert with_body <= paths, f"operations with a body but no bad-input case: {sorted(with_body - paths)}"

    decide_status = 400  # decide refuses every bad field with 400 (README); the other bodies with 422.
    for method, raw_path, valid, wrong, field in BODY_CASES:
        path = raw_path.format(experiment=draft_experiment)
        expected = decide_status if path == "/api/routing/decide" else 422
        malformed = admin.request(method, path, content=b'{"oops": ', expect=400, valid=False)
        assert field_of(malformed) is None
        admin.request(method, path, content=b"[1, 2]", expect=400, valid=False)
        admin.request(method, path, content=b'"text"', expect=400, valid=False)

        unknown = admin.request(method, path, json={**valid, "bogus_field": 1}, expect=expected, valid=False)
        named = field_of(unknown)
        if path.endswith("/split"):
            # PUT split refuses any body that is not exactly {"weights": {...}} by naming "weights".
            assert named in ("bogus_field", "weights"), unknown.text
        else:
            assert named == "bogus_field", f"{method.upper()} {path}: {unknown.text}"

        typed = admin.request(method, path, json=wrong, expect=expected, valid=False)
        assert field_of(typed) == field, f"{method.upper()} {path} {wrong}: {typed.text}"

    for raw_path in NO_BODY_CALLS:
        path = raw_path.format(experiment=draft_experiment)
        refused = admin.request("post", path, json={"bogus_field": 1}, expect=422, valid=False)
        assert field_of(refused) == "bogus_field"
        admin.request("post", path, content=b"{", expect=400, valid=False)
    assert admin.get(f"/api/experiments/{draft_experiment}", expect=200).json()["status"] == "draft"


def test_nested_unknown_and_missing_fields(admin: Admin) -> None:
    cases = [
        ("post", "/api/providers", {"id": "p-missing"}, "format"),
        ("post", "/api/providers", {"format": "mock"}, "id"),
        ("post", "/api/models", {"name": "m-missing"}, None),
        ("post", "/api/models", {"backends": [{"provider": "mock", "model": "x"}]}, "name"),
        ("post", "/api/models", {"name": "m-rollout", "backends": [{"provider": "mock", "model": "x"}],
                                 "rollout": {"canary": "v2", "steps": [{"pause": {}}]}}, "rollout"),
        ("post", "/api/models", {"name": "m-nested", "backends": [{"provider": "mock", "model": "x", "colour": "red"}]},
         "backends[0].colour"),
        ("post", "/api/models", {"name": "m-provider", "backends": [{"provider": "nobody", "model": "x"}]}, "backends[0].provider"),
        ("post", "/api/models", {"name": "a/b", "backends": [{"provider": "mock", "model": "x"}]}, "name"),
        ("post", "/api/users", {}, "id"),
        ("post", "/api/users", {"id": "u-nested", "budget": {"weekly_usd": 1}}, "budget.weekly_usd"),
        ("put", "/api/settings", {"smart_ai": {"bogus": 1}}, "smart_ai.bogus"),
        ("put", "/api/providers/mock", {"enabled": True}, "format"),
        ("post", "/api/models/chat/rollouts", {"canary": "v2", "steps": [{"pause": {}}], "analysis": {"bogus": 1}}, "analysis.bogus"),
        ("post", "/api/models/chat/rollouts", {"canary": "v2"}, "steps"),
        ("post", "/api/experiments/{experiment}/feedback", {"score": 1}, "request_id"),
        ("put", "/api/models/chat/weight", {"version": "v2"}, "weight"),
    ]
    experiment = admin.post("/api/experiments", expect=201, json={**EXPERIMENT_BODY, "name": "nested target"}).json()["id"]
    for method, raw_path, body, field in cases:
        path = raw_path.format(experiment=experiment)
        refused = admin.request(method, path, json=body, expect=422, valid=False)
        if field is None:
            assert field_of(refused), f"{method.upper()} {path} {body}: {refused.text}"
        else:
            assert field_of(refused) == field, f"{method.upper()} {path} {body}: {refused.text}"
    admin.delete(f"/api/experiments/{experiment}", expect=204)


def test_query_parameters_of_the_wrong_type_are_refused(admin: Admin) -> None:
    cases = [
        ("/api/experiments", {"limit": "ten"}, "limit"),
        ("/api/experiments", {"limit": 0}, "limit"),
        ("/api/experiments", {"offset": -1}, "offset"),
        ("/api/experiments", {"status": "sleeping"}, "status"),
        ("/api/audit", {"limit": "many"}, "limit"),
        ("/api/usage", {"to": "tomorrow-ish"}, "to"),
        ("/api/stats/timeseries", {"step": "minute"}, "step"),
        ("/api/stats/timeseries", {"to": "x"}, "to"),
        ("/api/rollouts", {"state": "sleeping"}, "state"),
        ("/api/rollouts", {"limit": 501}, "limit"),
        ("/api/rollouts", {"since": "soon"}, "since"),
        ("/api/models/chat/rollouts", {"before": "not-a-cursor"}, "before"),
    ]
    for path, params, field in cases:
        refused = admin.get(path, params=params, expect=400, valid=False)
        assert field_of(refused) == field, f"GET {path} {params}: {refused.text}"


def test_bodies_over_one_mebibyte_get_413(admin: Admin) -> None:
    padding = "x" * (MAX_ADMIN_BODY + 1024)
    for method, path, body in (
        ("post", "/api/routing/decide", {"model": "chat", "prompt": padding}),
        ("post", "/api/providers", {"id": "big", "format": "mock", "region": padding}),
        ("put", "/api/settings", {"pad": padding}),
        ("post", "/api/models/chat/versions", {"name": "big", "backends": [], "pad": padding}),
    ):
        admin.request(method, path, json=body, expect=413, valid=False)


def test_not_found_names_the_path_parameter(admin: Admin) -> None:
    """The contract: 404 names the path parameter (`id` for providers, users, experiments, rollouts
    and sessions; `name` for /api/models/{name}; `model` for the release API)."""
    problems = []
    for method, path, body, field in (
        ("get", "/api/providers/nope", None, "id"),
        ("delete", "/api/providers/nope", None, "id"),
        ("get", "/api/providers/nope/models", None, "id"),
        ("post", "/api/providers/nope/refresh-models", None, "id"),
        ("get", "/api/models/nope", None, "name"),
        ("put", "/api/models/nope", {"backends": [{"provider": "mock", "model": "x"}]}, "name"),
        ("delete", "/api/models/nope", None, "name"),
        ("get", "/api/models/nope/weights", None, "name"),
        ("get", "/api/models/nope/rollouts", None, "model"),
        ("post", "/api/models/nope/refresh", None, "model"),
        ("put", "/api/models/nope/split", {"weights": {"v1": 100}}, "model"),
        ("put", "/api/models/chat/versions/nope", {"weight": 1}, "version"),
        ("delete", "/api/models/chat/versions/nope", None, "version"),
        ("get", "/api/users/nope", None, "id"),
        ("delete", "/api/users/nope", None, "id"),
    ):
        response = admin.request(method, path, json=body, expect=404, valid=False)
        if field_of(response) != field:
            problems.append(f"{method.upper()} {path}: field {field_of(response)!r}, expected {field!r}")
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------------------
# 4. Nothing documented goes untested
# ---------------------------------------------------------------------------


def test_every_documented_operation_was_exercised(conformance: Conformance) -> None:
    missing = [f"{method.upper()} {template}" for method, template in conformance.operations()
               if not any(200 <= status < 300 for status in conformance.answered.get((method.upper(), template), set()))]
    assert not missing, "operations the document lists but no test got a 2xx answer from:\n  " + "\n  ".join(missing)
    seen_errors = sorted({status for statuses in conformance.answered.values() for status in statuses if status >= 400})
    print(f"\nOpenAPI conformance: {len(conformance.operations())} operations exercised; error statuses seen: {seen_errors}")


# ---------------------------------------------------------------------------
# 5. Last, because a failure takes the gateway down
# ---------------------------------------------------------------------------


def test_provider_header_names_cannot_crash_the_gateway(admin: Admin, http: httpx.Client) -> None:
    """Found by test_schemathesis.py: a provider header whose name is not ASCII was stored, and the
    next request built with it (model discovery, a health check, a relayed request) hit a
    precondition in NIO's HTTPHeaders and killed the process. Such a name must be refused (422),
    or at least never reach an upstream request."""
    created = admin.request("post", "/api/providers", json={
        "id": "unicode-header", "format": "openai", "base_url": "http://127.0.0.1:9/v1", "health_check": "none",
        "headers": {"X-Ünïcode": "yes"}}, expect=(201, 422), valid=False)
    if created.status_code == 422:
        assert (field_of(created) or "").startswith("headers"), created.text
        return
    try:
        refreshed = http.post("/api/providers/unicode-header/refresh-models",
                              headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    except httpx.HTTPError as error:
        pytest.fail(f"POST /api/providers/unicode-header/refresh-models: the gateway went away ({error!r})")
    assert refreshed.status_code < 500, refreshed.text
    assert http.get("/health").status_code == 200
    admin.delete("/api/providers/unicode-header", expect=204)
