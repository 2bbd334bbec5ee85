"""An OpenAI-compatible upstream that misbehaves on request, for the routing tests.

Standard library only; it reuses the plumbing of ``fake_upstream.py``. What it
does with ``POST /v1/chat/completions`` depends on the upstream model name the
gateway sends:

==================  ==========================================================
``ok-*``            a normal completion, content ``"from <model>"``, usage
                    included; with ``"stream": true`` an SSE stream ending in
                    ``data: [DONE]`` (plus a usage chunk when
                    ``stream_options.include_usage`` is set)
``flaky``           like ``ok-*`` while ``state.flaky_down`` is false,
                    HTTP 500 while it is true
``fail500``         HTTP 500 with an OpenAI error body
``fail429``         HTTP 429, ``Retry-After: 2``, OpenAI error body
``slow``            sleeps ``SLOW_SECONDS`` and then answers like ``ok-*``
``late-head``       sleeps ``LATE_HEAD_SECONDS`` before sending the response
                    head, then answers like ``ok-*`` (streams at the usual pace)
``stall-stream``    streams the role chunk and two content chunks, then goes
                    silent for ``STALL_SECONDS`` and closes the connection
                    without ``[DONE]`` (non-stream: silence, then a close
                    without any response)
``drop-stream``     streams the role chunk and two content chunks, then closes
                    the TCP connection (no ``[DONE]``, no terminating chunk;
                    non-stream: a truncated body)
anything else       HTTP 404 ``model_not_found``
==================  ==========================================================

Chat requests are counted per model name (``hits(model)``) and recorded like
in the fake upstream (``requests``).
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

from fake_upstream import (
    CompletionChunks,
    FakeUpstream,
    RecordedRequest,
    _Handler,
    completion_usage,
    free_port,
    wants_usage,
)

SLOW_SECONDS = 3.0
LATE_HEAD_SECONDS = 0.7
STALL_SECONDS = 5.0
RETRY_AFTER_SECONDS = 2
PARTIAL_CHUNKS = ("partial-1 ", "partial-2")  # what stall-stream and drop-stream send
STREAM_CHUNK_DELAY_SECONDS = 0.02
FLUSH_PAUSE_SECONDS = 0.1  # lets the partial chunks reach the gateway before a drop


@dataclass
class FaultState:
    """Switches the tests flip while the server runs."""

    flaky_down: bool = False


#: The default state shared by every FaultUpstream that is not given its own.
state = FaultState()


def reply_for(model: str) -> str:
    return f"from {model}"


class _FaultHandler(_Handler):
    @property
    def fault(self) -> "FaultUpstream":
        return self.server.upstream  # type: ignore[return-value]

    def _hang_up(self) -> None:
        """Close the connection now, mid-response, without any HTTP framing."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # -- chat completions ----------------------------------------------------

    def _chat_completions(self, body: dict[str, Any]) -> None:
        with self._until_the_gateway_hangs_up():
            self._dispatch(str(body.get("model", "")), bool(body.get("stream")), body)

    def _dispatch(self, model: str, stream: bool, body: dict[str, Any]) -> None:
        if model == "fail500" or (model == "flaky" and self.fault.state.flaky_down):
            self._send_openai_error(500, f"{model}: injected server error", "server_error", None)
        elif model == "fail429":
            self._send_openai_error(
                429, f"{model}: rate limit reached, retry after {RETRY_AFTER_SECONDS}s",
                "requests", "rate_limit_exceeded",
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
        elif model == "slow":
            self.fault.sleep(SLOW_SECONDS)
            self._answer(model, stream, body)
        elif model == "late-head":
            self.fault.sleep(LATE_HEAD_SECONDS)
            self._answer(model, stream, body)
        elif model == "stall-stream":
            self._stall(model, stream)
        elif model == "drop-stream":
            self._drop(model, stream)
        elif model.startswith("ok-") or model == "flaky":
            self._answer(model, stream, body)
        else:
            self._send_openai_error(
                404, f"The model `{model}` does not exist", "invalid_request_error", "model_not_found",
            )

    def _answer(self, model: str, stream: bool, body: dict[str, Any]) -> None:
        content = reply_for(model)
        usage = completion_usage(body.get("messages"), content)
        chunks = CompletionChunks(model, "chatcmpl-fault")
        if stream:
            self._stream_completion(chunks, ("from ", model), STREAM_CHUNK_DELAY_SECONDS, usage, wants_usage(body))
        else:
            self._send_json(200, chunks.completion(content, usage))

    def _write_partial_stream(self, model: str) -> None:
        self._stream_deltas(CompletionChunks(model, "chatcmpl-fault"), PARTIAL_CHUNKS, STREAM_CHUNK_DELAY_SECONDS)

    def _stall(self, model: str, stream: bool) -> None:
        if stream:
            self._write_partial_stream(model)
        self.fault.sleep(STALL_SECONDS)
        self._hang_up()

    def _drop(self, model: str, stream: bool) -> None:
        if stream:
            self._write_partial_stream(model)
        else:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b'{"id": "chatcmpl-truncated", "object": "chat.comp')
        time.sleep(FLUSH_PAUSE_SECONDS)
        self._hang_up()


class FaultUpstream(FakeUpstream):
    """Runs the fault-injecting upstream in a background thread.

    Usage::

        with FaultUpstream() as fault:
            fault.base_url              # "http://127.0.0.1:PORT/v1"
            fault.state.flaky_down = True
            fault.hits("fail429")       # chat requests seen for that model
    """

    handler_class = _FaultHandler

    def __init__(self, host: str = "127.0.0.1", port: int = 0, fault_state: FaultState | None = None) -> None:
        self.state = fault_state if fault_state is not None else state
        self._hits: dict[str, int] = {}
        self._stopping = threading.Event()
        super().__init__(host, port)

    def stop(self) -> None:
        self._stopping.set()  # wakes handlers sleeping in a stall
        super().stop()

    def sleep(self, seconds: float) -> None:
        """A sleep that ends early when the server stops."""
        self._stopping.wait(seconds)

    def _record(self, request: RecordedRequest) -> None:
        super()._record(request)
        if request.method == "POST" and request.path.rstrip("/") == "/v1/chat/completions":
            model = request.body.get("model") if isinstance(request.body, dict) else None
            if isinstance(model, str):
                with self._lock:
                    self._hits[model] = self._hits.get(model, 0) + 1

    def hits(self, model: str) -> int:
        """How many chat completion requests named this upstream model."""
        with self._lock:
            return self._hits.get(model, 0)

    def clear(self) -> None:
        super().clear()
        with self._lock:
            self._hits.clear()


closed_port = free_port  # the name bench/failover.py imports
