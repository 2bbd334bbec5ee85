"""OTLP trace export: the spans a collector receives for plain, streamed and failed-over requests.

An in-process OTLP/HTTP receiver (`POST /v1/traces`, decoded with the official `opentelemetry-proto`
messages) stands in for a collector. The gateway is told about it by `[telemetry] otlp_endpoint`.
Checked: one server span per request continuing the client's `traceparent` (the trace id and span id
the response's `traceparent` names), a client span per upstream attempt under it, the GenAI and
Switchyard attributes, an unsampled request exporting nothing, and a dead collector costing the
client nothing while the dropped spans are counted in /metrics.
"""

from __future__ import annotations

import http.server
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

from conftest import GatewaySeed, bearer_client, chat, free_port, start_gateway
from fake_upstream import serving

trace_service_pb2 = pytest.importorskip(
    "opentelemetry.proto.collector.trace.v1.trace_service_pb2", reason="opentelemetry-proto is not installed")

ADMIN_TOKEN = "e2e-tracing-admin"
USER_TOKEN = "sk-tracing-e2e"
EXPORT_WAIT_SECONDS = 10
CLOSED_LOCAL_URL = "http://127.0.0.1:9"  # the discard port: nothing listens

SERVER, CLIENT = 2, 3  # SpanKind
STATUS_ERROR = 2


def seed(collector_url: str) -> str:
    return f"""\
[server]
admin_token = "{ADMIN_TOKEN}"

[telemetry]
otlp_endpoint = "{collector_url}"
service_name = "switchyard-e2e"

[settings]
health_check_interval_seconds = 0

[providers.demo]
format = "mock"

[providers.dead]
format = "openai"
base_url = "{CLOSED_LOCAL_URL}/v1"

[models.chat]
[models.chat.versions.v1]
weight = 100
default = true
backends = [ {{ provider = "demo", model = "echo-large", mock = {{ chunks = 3, ttft_ms = 5, latency_ms = 10 }} }} ]

[models.fallback]
strategy = "failover"
backends = [ {{ provider = "dead", model = "gone", priority = 1 }}, {{ provider = "demo", model = "spare", priority = 2 }} ]

[users.tracer]
token = "{USER_TOKEN}"
"""


class Collector:
    """Collects every span posted to it, keyed by hex trace id."""

    def __init__(self) -> None:
        self.spans: list[dict[str, Any]] = []
        self.resources: list[dict[str, Any]] = []
        self.content_types: set[str] = set()
        self.lock = threading.Lock()
        collector = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                request = trace_service_pb2.ExportTraceServiceRequest()
                request.ParseFromString(body)
                with collector.lock:
                    collector.content_types.add(self.headers.get("content-type", ""))
                    for resource_spans in request.resource_spans:
                        resource = attributes(resource_spans.resource.attributes)
                        collector.resources.append(resource)
                        for scope_spans in resource_spans.scope_spans:
                            collector.spans += [decode(span) for span in scope_spans.spans]
                answer = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.handler = Handler
        self.url = ""  # known once it is served

    def spans_of(self, trace_id: str, count: int) -> list[dict[str, Any]]:
        deadline = time.monotonic() + EXPORT_WAIT_SECONDS
        while time.monotonic() < deadline:
            with self.lock:
                found = [span for span in self.spans if span["trace_id"] == trace_id]
            if len(found) >= count:
                return found
            time.sleep(0.1)
        pytest.fail(f"expected {count} spans of trace {trace_id}, got {found}", pytrace=False)


def attributes(key_values: Any) -> dict[str, Any]:
    decoded = {}
    for key_value in key_values:
        kind = key_value.value.WhichOneof("value")
        decoded[key_value.key] = getattr(key_value.value, kind)
    return decoded


def decode(span: Any) -> dict[str, Any]:
    return {
        "trace_id": span.trace_id.hex(), "span_id": span.span_id.hex(), "parent": span.parent_span_id.hex(),
        "name": span.name, "kind": span.kind, "start": span.start_time_unix_nano, "end": span.end_time_unix_nano,
        "attributes": attributes(span.attributes), "status": span.status.code, "status_message": span.status.message,
    }


@pytest.fixture(scope="module")
def collector() -> Iterator[Collector]:
    collector = Collector()
    with serving(collector.handler) as server:
        collector.url = f"http://127.0.0.1:{server.server_address[1]}"
        yield collector


@pytest.fixture(scope="module")
def gateway_seed(collector: Collector) -> GatewaySeed:
    return GatewaySeed(seed(collector.url), ADMIN_TOKEN, USER_TOKEN)


def traceparent(response: httpx.Response) -> tuple[str, str]:
    _, trace_id, span_id, _ = response.headers["traceparent"].split("-")
    return trace_id, span_id


def by_kind(spans: list[dict[str, Any]], kind: int) -> list[dict[str, Any]]:
    return sorted((span for span in spans if span["kind"] == kind), key=lambda span: span["start"])


def test_a_plain_request_is_a_server_span_continuing_the_client_trace_with_one_client_span(
        user_http: httpx.Client, collector: Collector) -> None:
    client_trace, client_span = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    answer = chat(user_http, "chat", text="hello", headers={"traceparent": f"00-{client_trace}-{client_span}-01"})
    assert answer.status_code == 200, answer.text
    trace_id, server_span_id = traceparent(answer)
    assert trace_id == client_trace

    spans = collector.spans_of(trace_id, 2)
    [server] = by_kind(spans, SERVER)
    [client] = by_kind(spans, CLIENT)
    assert server["span_id"] == server_span_id and server["parent"] == client_span
    assert server["name"] == "chat chat" and server["status"] != STATUS_ERROR
    usage = answer.json()["usage"]
    assert server["attributes"] | {} == server["attributes"]
    expected = {
        "gen_ai.operation.name": "chat", "gen_ai.request.model": "chat", "gen_ai.provider.name": "switchyard.mock",
        "gen_ai.response.model": answer.json()["model"], "gen_ai.usage.input_tokens": usage["prompt_tokens"],
        "gen_ai.usage.output_tokens": usage["completion_tokens"], "switchyard.version": "v1",
        "switchyard.backend": "demo/echo-large", "switchyard.failover_count": 0, "http.response.status_code": 200,
        "switchyard.request_id": answer.headers["x-request-id"],
    }
    assert {key: server["attributes"].get(key) for key in expected} == expected
    assert "error.type" not in server["attributes"]

    assert client["parent"] == server_span_id and client["span_id"] != server_span_id
    assert client["name"] == "chat echo-large"
    assert client["attributes"]["gen_ai.request.model"] == "echo-large"
    assert client["attributes"]["switchyard.backend"] == "demo/echo-large"
    assert server["start"] <= client["start"] <= client["end"] <= server["end"]

    with collector.lock:
        resource = collector.resources[-1]
        content_types = set(collector.content_types)
    assert resource["service.name"] == "switchyard-e2e" and resource["service.version"]
    assert content_types == {"application/x-protobuf"}


def test_a_streamed_request_is_traced_once_it_ends(user_http: httpx.Client, collector: Collector) -> None:
    with user_http.stream("POST", "/v1/chat/completions",
                          json={"model": "chat", "stream": True, "messages": [{"role": "user", "content": "hi"}]}) as answer:
        assert answer.status_code == 200
        text = "".join(answer.iter_text())
    assert text.rstrip().endswith("data: [DONE]")
    trace_id, server_span_id = traceparent(answer)
    spans = collector.spans_of(trace_id, 2)
    [server] = by_kind(spans, SERVER)
    [client] = by_kind(spans, CLIENT)
    assert server["span_id"] == server_span_id and server["parent"] == ""
    assert server["attributes"]["gen_ai.response.model"] == client["attributes"]["gen_ai.response.model"]
    assert server["attributes"]["gen_ai.usage.output_tokens"] > 0
    assert client["parent"] == server_span_id


def test_a_failover_is_two_client_spans_the_first_failed(user_http: httpx.Client, collector: Collector) -> None:
    answer = chat(user_http, "fallback", text="hello")
    assert answer.status_code == 200, answer.text
    trace_id, server_span_id = traceparent(answer)
    spans = collector.spans_of(trace_id, 3)
    [server] = by_kind(spans, SERVER)
    failed, answered = by_kind(spans, CLIENT)
    assert server["attributes"]["switchyard.failover_count"] == 1
    assert server["attributes"]["switchyard.backend"] == "demo/spare"
    assert failed["attributes"]["switchyard.backend"] == "dead/gone"
    assert failed["attributes"]["error.type"] == "upstream_unreachable" and failed["status"] == STATUS_ERROR
    assert answered["attributes"]["switchyard.backend"] == "demo/spare" and "error.type" not in answered["attributes"]
    assert failed["parent"] == answered["parent"] == server_span_id and failed["span_id"] != answered["span_id"]


def test_an_unsampled_request_exports_nothing(user_http: httpx.Client, collector: Collector) -> None:
    unsampled = "5bf92f3577b34da6a3ce929d0e0e4736"
    answer = chat(user_http, "chat", text="hello", headers={"traceparent": f"00-{unsampled}-00f067aa0ba902b7-00"})
    assert answer.status_code == 200
    sampled = chat(user_http, "chat", text="after")
    # Exports keep their order: once the later request's spans are in, the earlier one's would be too.
    collector.spans_of(traceparent(sampled)[0], 2)
    with collector.lock:
        assert not [span for span in collector.spans if span["trace_id"] == unsampled]


def test_a_dead_collector_costs_the_client_nothing_and_drops_are_counted(
        tmp_path: Path, request: pytest.FixtureRequest) -> None:
    dead_collector = f"http://127.0.0.1:{free_port()}"
    with start_gateway(seed(dead_collector), tmp_path, request.config) as base_url:
        with bearer_client(base_url, USER_TOKEN) as http:
            for _ in range(5):
                started = time.monotonic()
                answer = chat(http, "chat", text="hello")
                assert answer.status_code == 200, answer.text
                assert time.monotonic() - started < 2
            deadline = time.monotonic() + EXPORT_WAIT_SECONDS
            dropped = 0.0
            while time.monotonic() < deadline:
                metrics = http.get("/metrics").text
                dropped = sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
                              if line.startswith('switchyard_trace_spans_dropped_total{reason="export_failed"}'))
                if dropped >= 10:
                    break
                time.sleep(0.2)
            assert dropped >= 10, metrics


def test_no_endpoint_no_exporter(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    plain = seed("unused").replace('otlp_endpoint = "unused"\n', "")
    with start_gateway(plain, tmp_path, request.config, env={"OTEL_EXPORTER_OTLP_ENDPOINT": ""}) as base_url:
        with bearer_client(base_url, USER_TOKEN) as http:
            assert chat(http, "chat", text="hello").status_code == 200
            assert "switchyard_trace_spans" not in http.get("/metrics").text
