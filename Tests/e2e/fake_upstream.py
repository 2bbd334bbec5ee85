# Over 400 lines: the HTTP plumbing every mock upstream of the tests shares, and the OpenAI-compatible one.
"""A tiny OpenAI-compatible upstream server for the end-to-end tests.

Standard library only. It serves, on 127.0.0.1 and an ephemeral port:

* ``POST /v1/completions`` -- legacy text completions: ``"upstream says: <prompt>"``, plain or streamed;
* ``POST /v1/chat/completions`` -- answers ``"upstream says: <last user message>"``,
  either as one ``chat.completion`` object or, with ``"stream": true``, as a
  server-sent event stream of ``chat.completion.chunk`` objects (chunked
  transfer encoding, a short pause between chunks, an optional usage chunk
  when ``stream_options.include_usage`` is true, then ``data: [DONE]``).
* ``POST /v1/embeddings`` -- one deterministic vector per input, as floats or
  base64 (the ``openai`` SDK asks for base64 by default).
* ``GET /v1/models`` -- a static model list.

Every request is recorded (method, path, headers, parsed JSON body) so tests
can assert on exactly what the gateway sent upstream.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import socket
import struct
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterator

RESPONSES_CACHED_TOKENS = 1024  # of each /v1/responses answer's input, "read from the cache"
REPLY_PREFIX = "upstream says: "
STREAM_CHUNKS = 4
STREAM_CHUNK_DELAY_SECONDS = 0.05
EMBEDDING_DIMENSIONS = 8
UPSTREAM_MODELS = ("gpt-upstream", "gpt-tuned", "text-embedding-upstream")
MAX_BODY_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # header names lower-cased
    body: Any  # parsed JSON, or None when there was no (valid) JSON body
    raw: bytes = b""  # the body's bytes as they arrived

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


# ---------------------------------------------------------------------------
# Helpers shared by the handlers
# ---------------------------------------------------------------------------


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound once, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def message_text(message: dict[str, Any]) -> str:
    """The text of a chat message whose content is a string or a list of parts."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part.get("text", "")
            for part in content
            if isinstance(part, dict) and part.get("type") == "text"
        )
    return ""


def last_user_text(messages: Any) -> str:
    if not isinstance(messages, list):
        return ""
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return message_text(message)
    return ""


def count_tokens(text: str) -> int:
    """A crude but deterministic token estimate: whitespace-separated words."""
    return max(1, len(text.split()))


def split_into_pieces(text: str, pieces: int) -> list[str]:
    """Split text into at most `pieces` non-empty, roughly equal parts."""
    size = max(1, -(-len(text) // pieces))  # ceiling division
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def embedding_for(item: Any) -> list[float]:
    """A deterministic unit-ish vector derived from the input's hash."""
    digest = hashlib.sha256(json.dumps(item).encode()).digest()
    return [round((byte - 127.5) / 127.5, 6) for byte in digest[:EMBEDDING_DIMENSIONS]]


def embedding_inputs(raw: Any) -> list[Any]:
    """Normalise the `input` field: a string, a token list, or a list of either."""
    if isinstance(raw, str):
        return [raw]
    if isinstance(raw, list) and raw and all(isinstance(x, int) for x in raw):
        return [raw]  # a single pre-tokenised input
    if isinstance(raw, list):
        return raw
    return []


def encode_base64_floats(vector: list[float]) -> str:
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()


def embeddings_answer(inputs: list[Any], body: dict[str, Any], model: str) -> dict[str, Any]:
    """An OpenAI embeddings list for `inputs`, base64 when the request's `encoding_format` asks for it."""
    as_base64 = body.get("encoding_format") == "base64"
    data = []
    for index, item in enumerate(inputs):
        vector = embedding_for(item)
        data.append({
            "object": "embedding",
            "index": index,
            "embedding": encode_base64_floats(vector) if as_base64 else vector,
        })
    tokens = sum(count_tokens(item) if isinstance(item, str) else max(1, len(item)) for item in inputs)
    return {"object": "list", "data": data, "model": model, "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}


def completion_usage(messages: Any, content: str) -> dict[str, int]:
    """OpenAI `usage` of answering `content` to `messages`."""
    prompt = " ".join(message_text(m) for m in messages if isinstance(m, dict)) if isinstance(messages, list) else ""
    usage = {"prompt_tokens": count_tokens(prompt), "completion_tokens": count_tokens(content)}
    usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
    return usage


def wants_usage(body: dict[str, Any]) -> bool:
    """Whether a streamed request asks for the final usage chunk (`stream_options.include_usage`)."""
    options = body.get("stream_options")
    return isinstance(options, dict) and bool(options.get("include_usage"))


class CompletionChunks:
    """The chat.completion object, or the chat.completion.chunk objects, of one OpenAI answer."""

    def __init__(self, model: str, id_prefix: str, system_fingerprint: str | None = None) -> None:
        self.model = model
        self.id = f"{id_prefix}-{uuid.uuid4().hex[:12]}"
        self.created = int(time.time())
        self.system_fingerprint = system_fingerprint

    def _head(self, kind: str) -> dict[str, Any]:
        head: dict[str, Any] = {"id": self.id, "object": kind, "created": self.created, "model": self.model}
        if self.system_fingerprint is not None:
            head["system_fingerprint"] = self.system_fingerprint
        return head

    def completion(self, content: str, usage: dict[str, int]) -> dict[str, Any]:
        return {
            **self._head("chat.completion"),
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "logprobs": None,
                "finish_reason": "stop",
            }],
            "usage": usage,
        }

    def delta(self, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        return {
            **self._head("chat.completion.chunk"),
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
        }

    def usage(self, usage: dict[str, int]) -> dict[str, Any]:
        return {**self._head("chat.completion.chunk"), "choices": [], "usage": usage}


# ---------------------------------------------------------------------------
# Request handler
# ---------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes: no 40 ms delayed-ACK stalls  # keep-alive + chunked streaming
    timeout = 30  # idle keep-alive connections are dropped after this
    server: "_Server"

    # -- plumbing ----------------------------------------------------------

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass  # keep pytest output clean

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked_body()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(min(length, MAX_BODY_BYTES)) if length > 0 else b""

    def _read_chunked_body(self) -> bytes:
        body = bytearray()
        while len(body) <= MAX_BODY_BYTES:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # skip trailers
                break
            body += self.rfile.read(size)
            self.rfile.readline()  # CRLF after each chunk
        return bytes(body)

    def _record(self, body: Any, raw: bytes = b"") -> None:
        headers = {name.lower(): value for name, value in self.headers.items()}
        self.server.upstream._record(
            RecordedRequest(self.command, self.path, headers, body, raw)
        )

    def _read_json_body(self) -> Any:
        """The request's JSON body (None when absent or invalid), recorded."""
        raw = self._read_body()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        self._record(body, raw)
        return body

    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _send_openai_error(self, status: int, message: str, error_type: str = "invalid_request_error",
                           code: str | None = None, headers: dict[str, str] | None = None) -> None:
        error = {"message": message, "type": error_type, "param": None, "code": code}
        self._send_json(status, {"error": error}, headers)

    @contextlib.contextmanager
    def _until_the_gateway_hangs_up(self) -> Iterator[None]:
        """Answer unless the gateway gives up first (a timeout, a cut stream): then just close."""
        try:
            yield
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    # -- server-sent events over chunked transfer encoding ---------------------

    event_stream_type = "text/event-stream"

    def _start_event_stream(self, headers: dict[str, str] | None = None) -> None:
        self.send_response(200)
        self.send_header("Content-Type", self.event_stream_type)
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _write_event(self, payload: Any) -> None:
        text = payload if isinstance(payload, str) else json.dumps(payload)
        self._write_chunk(f"data: {text}\n\n".encode())

    def _end_event_stream(self) -> None:
        self._write_chunk(b"")  # the terminating zero-length chunk

    def _stream_deltas(self, chunks: CompletionChunks, pieces: list[str] | tuple[str, ...], pause_seconds: float) -> None:
        """The head, the role chunk and one content chunk per piece, `pause_seconds` before each."""
        self._start_event_stream()
        self._write_event(chunks.delta({"role": "assistant", "content": ""}))
        for piece in pieces:
            time.sleep(pause_seconds)
            self._write_event(chunks.delta({"content": piece}))

    def _stream_completion(self, chunks: CompletionChunks, pieces: list[str] | tuple[str, ...], pause_seconds: float,
                           usage: dict[str, int], with_usage: bool) -> None:
        """A whole streamed completion: the deltas, the stop chunk, the usage chunk if asked for, [DONE]."""
        self._stream_deltas(chunks, pieces, pause_seconds)
        self._write_event(chunks.delta({}, finish_reason="stop"))
        if with_usage:
            self._write_event(chunks.usage(usage))
        self._write_event("[DONE]")
        self._end_event_stream()

    # -- routing -----------------------------------------------------------

    def do_GET(self) -> None:
        self._record(None)
        route = self.path.split("?")[0].rstrip("/")
        if route == "/v1/models":
            self._send_json(200, self.server.upstream.models_payload())
        elif route.startswith("/v1/responses/"):
            response_id, _, rest = route.removeprefix("/v1/responses/").partition("/")
            stored = self.server.upstream.stored_response(response_id)
            if stored is None:
                self._send_response_not_found(response_id)
            elif rest == "input_items":
                self._send_json(200, {"object": "list", "data": stored["input_items"], "first_id": None, "last_id": None,
                                      "has_more": False})
            elif "cut=1" in self.path.partition("?")[2]:
                # Half of the promised body, then the connection closes: an answer that broke off.
                body = json.dumps(stored["response"]).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                self.close_connection = True
            else:
                self._send_json(200, stored["response"])
        else:
            self._send_openai_error(404, f"no route for GET {self.path}", code="not_found")

    def do_DELETE(self) -> None:
        self._record(None)
        route = self.path.rstrip("/")
        response_id = route.removeprefix("/v1/responses/")
        if route.startswith("/v1/responses/") and self.server.upstream.delete_stored_response(response_id):
            self._send_json(200, {"id": response_id, "object": "response", "deleted": True})
        else:
            self._send_response_not_found(response_id)

    def _send_response_not_found(self, response_id: str) -> None:
        self._send_openai_error(404, f"Response with id '{response_id}' not found.", code="not_found")

    def do_POST(self) -> None:
        body = self._read_json_body()
        if not isinstance(body, dict):
            self._send_openai_error(400, "request body must be a JSON object")
            return
        route = self.path.rstrip("/")
        if route == "/v1/chat/completions":
            self._chat_completions(body)
        elif route == "/v1/embeddings":
            self._embeddings(body)
        elif route == "/v1/completions":
            self._text_completions(body)
        elif route == "/v1/responses":
            self._responses(body)
        else:
            self._send_openai_error(404, f"no route for POST {self.path}", code="not_found")

    # -- endpoints ---------------------------------------------------------

    def _chat_completions(self, body: dict[str, Any]) -> None:
        messages = body.get("messages", [])
        content = REPLY_PREFIX + last_user_text(messages)
        usage = completion_usage(messages, content)
        chunks = CompletionChunks(body.get("model", ""), "chatcmpl-fake", "fp_fake_upstream")
        if body.get("stream"):
            self._stream_completion(chunks, split_into_pieces(content, STREAM_CHUNKS), STREAM_CHUNK_DELAY_SECONDS,
                                    usage, wants_usage(body))
        else:
            self._send_json(200, chunks.completion(content, usage))

    def _responses(self, body: dict[str, Any]) -> None:
        """The Responses API: answers `"upstream says: <input text>"` as a `response` or its typed events,
        with usage that reports RESPONSES_CACHED_TOKENS of the input as read from the prompt cache."""
        if "stream_options" in body and "include_usage" in (body.get("stream_options") or {}):
            self._send_openai_error(400, "Unknown parameter: 'stream_options.include_usage'.")
            return
        raw = body.get("input")
        if isinstance(raw, str):
            prompt = raw
        elif isinstance(raw, list):
            prompt = last_user_text([item for item in raw if isinstance(item, dict) and item.get("role") == "user"])
        else:
            self._send_openai_error(400, "Missing required parameter: 'input'.")
            return
        previous = body.get("previous_response_id")
        if previous is not None and self.server.upstream.stored_response(previous) is None:
            self._send_json(400, {"error": {"message": f"Previous response with id '{previous}' not found.",
                                            "type": "invalid_request_error", "param": "previous_response_id",
                                            "code": "previous_response_not_found"}})
            return
        text = REPLY_PREFIX + prompt
        input_tokens = count_tokens(prompt) + RESPONSES_CACHED_TOKENS
        usage = {"input_tokens": input_tokens, "input_tokens_details": {"cached_tokens": RESPONSES_CACHED_TOKENS},
                 "output_tokens": count_tokens(text), "output_tokens_details": {"reasoning_tokens": 0},
                 "total_tokens": input_tokens + count_tokens(text)}
        response_id = f"resp_fake{uuid.uuid4().hex}"
        item = {"id": f"msg_fake{uuid.uuid4().hex[:12]}", "type": "message", "role": "assistant", "status": "completed",
                "content": [{"type": "output_text", "text": text, "annotations": []}]}

        def response(status: str, output: list[dict[str, Any]], with_usage: bool) -> dict[str, Any]:
            return {"id": response_id, "object": "response", "created_at": int(time.time()), "status": status,
                    "model": body.get("model", ""), "output": output, "parallel_tool_calls": True, "tool_choice": "auto",
                    "tools": [], "previous_response_id": previous, "usage": usage if with_usage else None}

        if body.get("store", True):
            items = raw if isinstance(raw, list) else [{"type": "message", "role": "user", "content": raw}]
            self.server.upstream.store_response(response("completed", [item], True), items)
        if not body.get("stream"):
            self._send_json(200, response("completed", [item], True))
            return
        sequence = 0

        def event(name: str, payload: dict[str, Any]) -> None:
            nonlocal sequence
            self._write_chunk(f"event: {name}\ndata: {json.dumps({'type': name, 'sequence_number': sequence, **payload})}\n\n".encode())
            sequence += 1

        self._start_event_stream()
        event("response.created", {"response": response("in_progress", [], False)})
        event("response.output_item.added", {"output_index": 0, "item": {**item, "status": "in_progress", "content": []}})
        event("response.content_part.added", {"item_id": item["id"], "output_index": 0, "content_index": 0,
                                              "part": {"type": "output_text", "text": "", "annotations": []}})
        for piece in split_into_pieces(text, STREAM_CHUNKS):
            time.sleep(STREAM_CHUNK_DELAY_SECONDS)
            event("response.output_text.delta", {"item_id": item["id"], "output_index": 0, "content_index": 0, "delta": piece})
        event("response.output_text.done", {"item_id": item["id"], "output_index": 0, "content_index": 0, "text": text})
        event("response.output_item.done", {"output_index": 0, "item": item})
        event("response.completed", {"response": response("completed", [item], True)})
        self._end_event_stream()

    def _text_completions(self, body: dict[str, Any]) -> None:
        """Legacy `/v1/completions`: answers `"upstream says: <prompt>"` as a `text_completion`."""
        prompt = body.get("prompt")
        if isinstance(prompt, list):
            prompt = prompt[0] if prompt and isinstance(prompt[0], str) else ""
        if not isinstance(prompt, str):
            self._send_openai_error(400, "'prompt' must be a string or a list of strings")
            return
        text = REPLY_PREFIX + prompt
        usage = {"prompt_tokens": count_tokens(prompt), "completion_tokens": count_tokens(text)}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        head = {"id": f"cmpl-fake-{uuid.uuid4().hex[:12]}", "object": "text_completion", "created": int(time.time()),
                "model": body.get("model", "")}

        def choice(piece: str, finish_reason: str | None) -> dict[str, Any]:
            return {"text": piece, "index": 0, "logprobs": None, "finish_reason": finish_reason}

        if not body.get("stream"):
            self._send_json(200, {**head, "choices": [choice(text, "stop")], "usage": usage})
            return
        self._start_event_stream()
        for piece in split_into_pieces(text, STREAM_CHUNKS):
            time.sleep(STREAM_CHUNK_DELAY_SECONDS)
            self._write_event({**head, "choices": [choice(piece, None)]})
        self._write_event({**head, "choices": [choice("", "stop")]})
        if wants_usage(body):
            self._write_event({**head, "choices": [], "usage": usage})
        self._write_event("[DONE]")
        self._end_event_stream()

    def _embeddings(self, body: dict[str, Any]) -> None:
        inputs = embedding_inputs(body.get("input"))
        if not inputs:
            self._send_openai_error(400, "'input' must be a non-empty string or list")
            return
        self._send_json(200, embeddings_answer(inputs, body, body.get("model", "")))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    upstream: "FakeUpstream"

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client (the gateway) hanging up mid-response is expected in the
        # failure-injection tests; anything else is still printed.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


# ---------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------


@contextlib.contextmanager
def serving(handler_class: type[BaseHTTPRequestHandler]) -> Iterator[ThreadingHTTPServer]:
    """`handler_class` served on 127.0.0.1 at a free port in a background thread until the block ends."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_class)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)



class FakeUpstream:
    """Runs the fake upstream in a background thread.

    Usage::

        with FakeUpstream() as upstream:
            upstream.base_url  # "http://127.0.0.1:PORT/v1"
            upstream.requests  # list[RecordedRequest]
    """

    #: The request handler; subclasses (see fault_upstream.py) override it.
    handler_class: type[BaseHTTPRequestHandler] = _Handler

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._stored_responses: dict[str, dict[str, Any]] = {}
        self._server = _Server((host, port), self.handler_class)
        self._server.upstream = self
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="fake-upstream",
            daemon=True,
        )

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> "FakeUpstream":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> "FakeUpstream":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- addresses ---------------------------------------------------------

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    # -- recorded traffic --------------------------------------------------

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    # -- responses this upstream stores (the Responses API's `store`) --------

    def store_response(self, response: dict[str, Any], input_items: list[Any]) -> None:
        with self._lock:
            self._stored_responses[response["id"]] = {"response": response, "input_items": input_items}

    def stored_response(self, response_id: str) -> dict[str, Any] | None:
        with self._lock:
            return self._stored_responses.get(response_id)

    def delete_stored_response(self, response_id: str) -> bool:
        with self._lock:
            return self._stored_responses.pop(response_id, None) is not None

    def clear(self) -> None:
        with self._lock:
            self._requests.clear()

    def find(self, predicate: Callable[[RecordedRequest], bool]) -> list[RecordedRequest]:
        return [r for r in self.requests if predicate(r)]

    def chat_requests_containing(self, marker: str) -> list[RecordedRequest]:
        """Chat requests whose last user message contains `marker`."""
        return self.find(
            lambda r: r.path.startswith("/v1/chat/completions")
            and isinstance(r.body, dict)
            and marker in last_user_text(r.body.get("messages"))
        )

    def embedding_requests_containing(self, marker: str) -> list[RecordedRequest]:
        """Embedding requests with an input string containing `marker`."""
        def matches(r: RecordedRequest) -> bool:
            if not (r.path.startswith("/v1/embeddings") and isinstance(r.body, dict)):
                return False
            return any(isinstance(i, str) and marker in i
                       for i in embedding_inputs(r.body.get("input")))
        return self.find(matches)

    # -- canned payloads ---------------------------------------------------

    @staticmethod
    def models_payload() -> dict[str, Any]:
        return {
            "object": "list",
            "data": [
                {"id": name, "object": "model", "created": 1700000000, "owned_by": "fake-upstream"}
                for name in UPSTREAM_MODELS
            ],
        }

