# Over 400 lines: each vendor's wire format (Anthropic, Azure OpenAI, Ollama) as the SDKs expect it, errors included.
"""Fake vendor upstreams for the provider-format tests: Anthropic, Azure OpenAI and Ollama.

Standard library only; the plumbing (threaded HTTP/1.1 server, chunked bodies,
request recording, JSON and event-stream writers) comes from ``fake_upstream.py``.
Each fake speaks its vendor's wire format as the vendor's public API reference
describes it, and rejects what the real service would reject, so that a
translation mistake in the gateway shows up as a failing request rather than
passing unnoticed.

==================  ==========================================================
AnthropicUpstream   ``POST {base}/messages``, ``POST {base}/messages/count_tokens``
                    and ``GET {base}/models``, base
                    ``http://127.0.0.1:PORT/v1``. Auth by ``x-api-key`` plus
                    ``anthropic-version: 2023-06-01``. Behaviour chosen by the
                    request's ``model``:
                    ``claude-text``      text "Hello from Claude: <last user text>"
                    ``claude-tool``      a ``tool_use`` block calling the first
                                         tool with ``{"location": "Paris"}``;
                                         after a ``tool_result`` it answers text
                                         "The tool said: <result>"
                    ``claude-text-tool`` a text block, then two ``tool_use``
                                         blocks (Paris, London)
                    ``claude-error-mid`` (stream) one text delta, then an
                                         ``error`` event, then the end
                    ``claude-cut-mid``   (stream) one text delta, then the body
                                         ends: no ``message_stop``, no error
                    ``claude-overloaded`` HTTP 529 ``overloaded_error``
                    ``claude-bad``       HTTP 400 ``invalid_request_error``
                    anything else        HTTP 404 ``not_found_error``
AzureUpstream       ``POST /openai/deployments/{deployment}/chat/completions``
                    and ``.../embeddings`` (``?api-version=`` required), auth by
                    ``api-key``; ``GET /openai/deployments`` and
                    ``GET /openai/models``. Chat content is
                    "azure deployment <deployment>: <last user text>".
OllamaUpstream      Ollama's OpenAI compatibility layer:
                    ``POST /v1/chat/completions``, ``POST /v1/embeddings``,
                    ``GET /v1/models``; no auth. Chat content is
                    "ollama <model>: <last user text>".
==================  ==========================================================

Every request is recorded (``requests``, see ``RecordedRequest``; its ``path``
includes the query string -- ``route_of`` and ``query_of`` split it).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
import uuid
from typing import Any, Callable, Iterable
from urllib.parse import parse_qs, urlsplit

from fake_upstream import (
    FakeUpstream,
    RecordedRequest,
    _Handler,
    completion_usage,
    count_tokens,
    embedding_inputs,
    embeddings_answer,
    last_user_text,
    split_into_pieces,
    wants_usage,
)

STREAM_DELTA_DELAY_SECONDS = 0.05
TEXT_STREAM_PIECES = 5

ANTHROPIC_VERSION = "2023-06-01"
ANTHROPIC_KEY = "sk-ant-test"
ANTHROPIC_MODELS = ("claude-text", "claude-tool", "claude-error-mid")  # what GET /v1/models lists
# Answered too, though not listed.
ANTHROPIC_UNLISTED_MODELS = ("claude-text-tool", "claude-cut-mid")
ANTHROPIC_TEXT_PREFIX = "Hello from Claude: "
ANTHROPIC_TOOL_RESULT_PREFIX = "The tool said: "
ANTHROPIC_TOOL_INPUT = {"location": "Paris"}
ANTHROPIC_SECOND_TOOL_INPUT = {"location": "London"}
ANTHROPIC_PREAMBLE = "Let me check the weather."
ANTHROPIC_ERROR_MID_TEXT = "Partial answer "
ANTHROPIC_BAD_MESSAGE = "bad request from claude"

AZURE_KEY = "azure-key"
AZURE_DEPLOYMENTS = {"my-gpt": "gpt-4o", "my-embed": "text-embedding-3-small"}
# A few data-plane api-versions Azure OpenAI accepts (GA and preview), plus the
# 2022-12-01 version still used for listing deployments.
AZURE_API_VERSIONS = frozenset({
    "2022-12-01", "2023-05-15", "2024-02-01", "2024-06-01", "2024-10-21",
    "2024-12-01-preview", "2025-01-01-preview", "2025-04-01-preview",
})

OLLAMA_MODELS = ("llama3.2",)


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


def route_of(request: RecordedRequest) -> str:
    """The request's path without the query string."""
    return urlsplit(request.path).path


def query_of(request: RecordedRequest) -> dict[str, list[str]]:
    """The request's query parameters (each name -> all its values)."""
    return parse_qs(urlsplit(request.path).query, keep_blank_values=True)


def anthropic_block_texts(content: Any) -> list[str]:
    """The texts of an Anthropic ``content`` (a string, or blocks of type text)."""
    if isinstance(content, str):
        return [content]
    if isinstance(content, list):
        return [b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text"]
    return []


def anthropic_system_text(system: Any) -> str:
    """``system`` as one string: it may be a string or a list of text blocks."""
    return "\n\n".join(anthropic_block_texts(system))


def _tool_result_text(block: dict[str, Any]) -> str:
    content = block.get("content")
    return content if isinstance(content, str) else "".join(anthropic_block_texts(content))


def _anthropic_prompt_text(body: dict[str, Any]) -> str:
    texts = [anthropic_system_text(body.get("system"))]
    for message in body.get("messages") or []:
        content = message.get("content")
        texts += anthropic_block_texts(content)
        if isinstance(content, list):
            texts += [_tool_result_text(b) for b in content if b.get("type") == "tool_result"]
    return " ".join(t for t in texts if t)


def _anthropic_last_user_text(body: dict[str, Any]) -> str:
    for message in reversed(body.get("messages") or []):
        if message.get("role") == "user":
            texts = anthropic_block_texts(message.get("content"))
            if texts:
                return "".join(texts)
    return ""


def _last_tool_results(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The tool_result blocks of the final user turn, if it carries any."""
    messages = body.get("messages") or []
    if not messages or messages[-1].get("role") != "user":
        return []
    content = messages[-1].get("content")
    if not isinstance(content, list):
        return []
    return [b for b in content if isinstance(b, dict) and b.get("type") == "tool_result"]


def tool_json_pieces(tool_input: dict[str, Any]) -> list[str]:
    """How a streamed tool input is cut: the real API often opens with an empty
    partial_json, and cuts anywhere -- inside keys and strings included."""
    return [""] + split_into_pieces(json.dumps(tool_input), 3)


def _request_id() -> str:
    return "req_" + uuid.uuid4().hex[:24]


# ---------------------------------------------------------------------------
# Shared handler plumbing
# ---------------------------------------------------------------------------


class _VendorHandler(_Handler):
    """Event streams typed as the vendors send them; query-aware routing."""

    event_stream_type = "text/event-stream; charset=utf-8"

    def _split_target(self) -> tuple[str, dict[str, list[str]]]:
        parts = urlsplit(self.path)
        return parts.path.rstrip("/") or "/", parse_qs(parts.query, keep_blank_values=True)


# ---------------------------------------------------------------------------
# Anthropic Messages API
# ---------------------------------------------------------------------------

# Top-level request fields of "Create a Message" (API reference, Messages >
# Create a Message, POST /v1/messages). The real API rejects any other field
# with "<field>: Extra inputs are not permitted".
_ANTHROPIC_REQUEST_FIELDS = frozenset({
    "model", "messages", "max_tokens", "system", "stop_sequences", "stream", "temperature",
    "top_p", "top_k", "tools", "tool_choice", "metadata", "thinking", "service_tier",
    "container", "mcp_servers",
})
# Image sources accept these media types (Messages > Create a Message > image
# content block, source.media_type).
_ANTHROPIC_IMAGE_MEDIA_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
_ANTHROPIC_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")
_ANTHROPIC_TOOL_FIELDS = frozenset({"name", "description", "input_schema", "type", "cache_control"})


class AnthropicRequestError(Exception):
    """What the real API would answer with 400 invalid_request_error."""


def validate_anthropic_request(body: Any) -> None:
    """Raise AnthropicRequestError where the real Messages API would answer 400.

    A faithful subset of the checks of "Create a Message": required fields,
    field types and ranges, roles, content block shapes and the tool_use /
    tool_result pairing rules (Tool use > "Handling tool use and tool result
    content blocks").
    """
    def fail(message: str) -> None:
        raise AnthropicRequestError(message)

    if not isinstance(body, dict):
        fail("request body must be a JSON object")
    for key in body:
        if key not in _ANTHROPIC_REQUEST_FIELDS:
            fail(f"{key}: Extra inputs are not permitted")
    if not isinstance(body.get("model"), str) or not body["model"]:
        fail("model: Field required")
    max_tokens = body.get("max_tokens")
    if max_tokens is None:
        fail("max_tokens: Field required")
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        fail("max_tokens: Input should be a valid integer greater than or equal to 1")
    if "stream" in body and not isinstance(body["stream"], bool):
        fail("stream: Input should be a valid boolean")
    for name in ("temperature", "top_p"):
        if name in body:
            value = body[name]
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value <= 1:
                fail(f"{name}: Input should be a number between 0 and 1")
    if "stop_sequences" in body:
        stops = body["stop_sequences"]
        if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
            fail("stop_sequences: Input should be a valid list of strings")
    if "system" in body:
        system = body["system"]
        if not (isinstance(system, str) or (isinstance(system, list) and all(
                isinstance(b, dict) and b.get("type") == "text" and isinstance(b.get("text"), str)
                for b in system))):
            fail("system: Input should be a valid string or a list of text blocks")
    if "metadata" in body:
        metadata = body["metadata"]
        if not isinstance(metadata, dict):
            fail("metadata: Input should be a valid dictionary")
        for key in metadata:
            if key != "user_id":
                fail(f"metadata.{key}: Extra inputs are not permitted")
        if "user_id" in metadata and not isinstance(metadata["user_id"], (str, type(None))):
            fail("metadata.user_id: Input should be a valid string")

    tool_names: set[str] = set()
    if "tools" in body:
        tools = body["tools"]
        if not isinstance(tools, list):
            fail("tools: Input should be a valid list")
        for index, tool in enumerate(tools):
            if not isinstance(tool, dict):
                fail(f"tools.{index}: Input should be a valid dictionary")
            for key in tool:
                if key not in _ANTHROPIC_TOOL_FIELDS:
                    fail(f"tools.{index}.{key}: Extra inputs are not permitted")
            name = tool.get("name")
            if not isinstance(name, str) or not _ANTHROPIC_TOOL_NAME.match(name):
                fail(f"tools.{index}.name: String should match pattern '^[a-zA-Z0-9_-]{{1,128}}$'")
            schema = tool.get("input_schema")
            if not isinstance(schema, dict) or schema.get("type") != "object":
                fail(f"tools.{index}.input_schema: Input should be a JSON schema with type 'object'")
            tool_names.add(name)
    if "tool_choice" in body:
        choice = body["tool_choice"]
        if not isinstance(choice, dict) or choice.get("type") not in {"auto", "any", "tool", "none"}:
            fail("tool_choice: Input tag does not match any of the expected tags: 'auto', 'any', 'tool', 'none'")
        if choice["type"] == "tool" and choice.get("name") not in tool_names:
            fail("tool_choice.name: the named tool is not among 'tools'")

    messages = body.get("messages")
    if not isinstance(messages, list):
        fail("messages: Field required")
    if not messages:
        fail("messages: at least one message is required")
    previous_tool_uses: set[str] = set()
    for index, message in enumerate(messages):
        where = f"messages.{index}"
        if not isinstance(message, dict):
            fail(f"{where}: Input should be a valid dictionary")
        role = message.get("role")
        if role not in ("user", "assistant"):
            fail(f"{where}.role: Input should be 'user' or 'assistant' (got {role!r}); "
                 "system prompts go in the top-level 'system' field")
        content = message.get("content")
        if isinstance(content, str):
            if not content and not (role == "assistant" and index == len(messages) - 1):
                fail(f"{where}.content: text content blocks must be non-empty")
            blocks: list[dict[str, Any]] = [{"type": "text", "text": content}]
        elif isinstance(content, list):
            blocks = content
        else:
            fail(f"{where}.content: Input should be a valid string or list of content blocks")
        tool_uses: set[str] = set()
        tool_results: set[str] = set()
        for b_index, block in enumerate(blocks):
            b_where = f"{where}.content.{b_index}"
            if not isinstance(block, dict):
                fail(f"{b_where}: Input should be a valid dictionary")
            kind = block.get("type")
            if kind == "text":
                if not isinstance(block.get("text"), str):
                    fail(f"{b_where}.text: Field required")
                if isinstance(content, list) and not block["text"]:
                    fail(f"{b_where}: text content blocks must be non-empty")
            elif kind == "image":
                if role != "user":
                    fail(f"{b_where}: image blocks are only allowed in user messages")
                _validate_image_source(block.get("source"), f"{b_where}.source", fail)
            elif kind == "tool_use":
                if role != "assistant":
                    fail(f"{b_where}: tool_use blocks are only allowed in assistant messages")
                if not isinstance(block.get("id"), str) or not isinstance(block.get("name"), str):
                    fail(f"{b_where}: tool_use blocks need a string 'id' and 'name'")
                if not isinstance(block.get("input"), dict):
                    fail(f"{b_where}.input: Input should be a valid dictionary")
                tool_uses.add(block["id"])
            elif kind == "tool_result":
                if role != "user":
                    fail(f"{b_where}: tool_result blocks are only allowed in user messages")
                tool_use_id = block.get("tool_use_id")
                if not isinstance(tool_use_id, str):
                    fail(f"{b_where}.tool_use_id: Field required")
                result = block.get("content")
                if result is not None and not isinstance(result, (str, list)):
                    fail(f"{b_where}.content: Input should be a valid string or list")
                tool_results.add(tool_use_id)
            else:
                fail(f"{b_where}.type: Input tag {kind!r} does not match any of the expected tags")
        unexpected = tool_results - previous_tool_uses
        if unexpected:
            fail(f"{where}.content: unexpected `tool_use_id` found in `tool_result` blocks: "
                 f"{', '.join(sorted(unexpected))}. Each `tool_result` block must have a corresponding "
                 "`tool_use` block in the previous message.")
        if previous_tool_uses and not previous_tool_uses <= tool_results:
            missing = previous_tool_uses - tool_results
            fail(f"messages.{index - 1}: `tool_use` ids were found without `tool_result` blocks "
                 f"immediately after: {', '.join(sorted(missing))}. Each `tool_use` block must have a "
                 "corresponding `tool_result` block in the next message.")
        previous_tool_uses = tool_uses


def _validate_image_source(source: Any, where: str, fail: Callable[[str], None]) -> None:
    if not isinstance(source, dict):
        fail(f"{where}: Field required")
    kind = source.get("type")
    if kind == "base64":
        if source.get("media_type") not in _ANTHROPIC_IMAGE_MEDIA_TYPES:
            fail(f"{where}.media_type: Input should be 'image/jpeg', 'image/png', 'image/gif' or 'image/webp'")
        data = source.get("data")
        try:
            if not isinstance(data, str) or not data:
                raise ValueError
            base64.b64decode(data, validate=True)
        except (ValueError, binascii.Error):
            fail(f"{where}.data: invalid base64 data")
    elif kind == "url":
        if not isinstance(source.get("url"), str) or not source["url"].startswith(("http://", "https://")):
            fail(f"{where}.url: Input should be a valid URL")
    else:
        fail(f"{where}.type: Input tag {kind!r} does not match any of the expected tags: 'base64', 'url', 'file'")


class _AnthropicHandler(_VendorHandler):
    @property
    def anthropic(self) -> "AnthropicUpstream":
        return self.server.upstream  # type: ignore[return-value]

    # -- errors (API reference, Errors: {"type":"error","error":{"type","message"}}) --

    def _send_anthropic_error(self, status: int, error_type: str, message: str) -> None:
        request_id = _request_id()
        self._send_json(
            status,
            {"type": "error", "error": {"type": error_type, "message": message}, "request_id": request_id},
            {"request-id": request_id},
        )

    def _authorised(self) -> bool:
        """Authentication: `x-api-key`, plus the required `anthropic-version` header
        (API reference, Using the API > Authentication; Versions)."""
        if self.headers.get("x-api-key") != self.anthropic.api_key:
            self._send_anthropic_error(401, "authentication_error", "invalid x-api-key")
            return False
        version = self.headers.get("anthropic-version")
        if version is None:
            self._send_anthropic_error(400, "invalid_request_error", "anthropic-version: header is required")
            return False
        # The dated versions Anthropic has published: the one the gateway sends, and later ones SDKs send.
        if not re.fullmatch(r"20\d\d-\d\d-\d\d", version) or version < ANTHROPIC_VERSION:
            self._send_anthropic_error(400, "invalid_request_error",
                                       f"anthropic-version: invalid version {version!r}")
            return False
        return True

    # -- routing -------------------------------------------------------------

    def do_GET(self) -> None:
        self._record(None)
        route, query = self._split_target()
        if route != "/v1/models":
            self._send_anthropic_error(404, "not_found_error", f"Not found: GET {route}")
            return
        if self._authorised():
            self._list_models(query)

    def do_POST(self) -> None:
        body = self._read_json_body()
        route, _ = self._split_target()
        if route not in ("/v1/messages", "/v1/messages/count_tokens"):
            self._send_anthropic_error(404, "not_found_error", f"Not found: POST {route}")
            return
        if not self._authorised():
            return
        if route == "/v1/messages/count_tokens":
            self._count_tokens(body)
            return
        try:
            validate_anthropic_request(body)
        except AnthropicRequestError as error:
            self._send_anthropic_error(400, "invalid_request_error", str(error))
            return
        with self._until_the_gateway_hangs_up():
            self._messages(body)

    # -- Models > List Models (GET /v1/models) --------------------------------

    def _list_models(self, query: dict[str, list[str]]) -> None:
        try:
            limit = int((query.get("limit") or ["20"])[0])
        except ValueError:
            limit = -1
        if not 1 <= limit <= 1000:
            self._send_anthropic_error(400, "invalid_request_error", "limit: Input should be between 1 and 1000")
            return
        models = list(self.anthropic.models)
        after = (query.get("after_id") or [None])[0]
        if after in models:
            models = models[models.index(after) + 1:]
        page, has_more = models[:limit], len(models) > limit
        data = [
            {"type": "model", "id": name, "display_name": f"Fake {name}", "created_at": "2025-01-01T00:00:00Z"}
            for name in page
        ]
        self._send_json(200, {
            "data": data,
            "has_more": has_more,
            "first_id": page[0] if page else None,
            "last_id": page[-1] if page else None,
        }, {"request-id": _request_id()})

    # -- Messages > Create a Message (POST /v1/messages) ------------------------

    def _messages(self, body: dict[str, Any]) -> None:
        model = body["model"]
        stream = bool(body.get("stream"))
        if model == "claude-overloaded":
            # Errors: 529 overloaded_error, "Anthropic's API is temporarily overloaded".
            self._send_anthropic_error(529, "overloaded_error", "Overloaded")
            return
        if model == "claude-bad":
            self._send_anthropic_error(400, "invalid_request_error", ANTHROPIC_BAD_MESSAGE)
            return
        if model not in ANTHROPIC_MODELS + ANTHROPIC_UNLISTED_MODELS:
            self._send_anthropic_error(404, "not_found_error", f"model: {model}")
            return

        input_tokens = count_tokens(_anthropic_prompt_text(body))
        tools = body.get("tools") or []
        results = _last_tool_results(body)
        if model == "claude-tool" and tools and not results:
            blocks: list[dict[str, Any]] = [{
                "type": "tool_use",
                "id": "toolu_01" + uuid.uuid4().hex[:22],
                "name": tools[0]["name"],
                "input": dict(ANTHROPIC_TOOL_INPUT),
            }]
            stop_reason = "tool_use"
            output_tokens = 12
        elif model == "claude-text-tool" and tools and not results:
            blocks = [{"type": "text", "text": ANTHROPIC_PREAMBLE}] + [
                {"type": "tool_use", "id": "toolu_01" + uuid.uuid4().hex[:22], "name": tools[0]["name"],
                 "input": dict(tool_input)}
                for tool_input in (ANTHROPIC_TOOL_INPUT, ANTHROPIC_SECOND_TOOL_INPUT)
            ]
            stop_reason = "tool_use"
            output_tokens = 30
        else:
            if model == "claude-tool" and results:
                text = ANTHROPIC_TOOL_RESULT_PREFIX + " ".join(_tool_result_text(r) for r in results)
            else:
                text = ANTHROPIC_TEXT_PREFIX + _anthropic_last_user_text(body)
            blocks = [{"type": "text", "text": text}]
            stop_reason = "end_turn"
            output_tokens = count_tokens(text)
        self.anthropic._served(body, input_tokens, output_tokens)

        message = {
            "id": "msg_01" + uuid.uuid4().hex[:22],
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": blocks,
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
        }
        if not stream:
            self._send_json(200, message, {"request-id": _request_id()})
        elif model in ("claude-error-mid", "claude-cut-mid"):
            self._stream_broken(message, with_error_event=model == "claude-error-mid")
        else:
            self._stream_message(message)

    # -- Messages > Count tokens (POST /v1/messages/count_tokens) -----------------

    def _count_tokens(self, body: Any) -> None:
        """`{"input_tokens": N}`; no `max_tokens` needed, and no sampling parameters taken."""
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list) or not body["messages"]:
            self._send_anthropic_error(400, "invalid_request_error", "messages: Field required")
            return
        unknown = sorted(set(body) - {"model", "messages", "system", "tools", "tool_choice", "thinking", "mcp_servers"})
        if unknown:
            self._send_anthropic_error(400, "invalid_request_error", f"{unknown[0]}: Extra inputs are not permitted")
            return
        if body.get("model") not in ANTHROPIC_MODELS + ANTHROPIC_UNLISTED_MODELS:
            self._send_anthropic_error(404, "not_found_error", f"model: {body.get('model')}")
            return
        self._send_json(200, {"input_tokens": count_tokens(_anthropic_prompt_text(body))}, {"request-id": _request_id()})

    # -- Streaming Messages: event: NAME / data: JSON ---------------------------

    def _event(self, name: str, data: dict[str, Any]) -> None:
        self._write_chunk(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())

    def _message_start(self, message: dict[str, Any]) -> None:
        # message_start carries the Message with empty content and the input
        # usage so far (output_tokens is a small running count).
        start = dict(message, content=[], stop_reason=None, stop_sequence=None,
                     usage={"input_tokens": message["usage"]["input_tokens"], "output_tokens": 1})
        self._event("message_start", {"type": "message_start", "message": start})

    def _stream_message(self, message: dict[str, Any]) -> None:
        self._start_event_stream({"request-id": _request_id()})
        self._message_start(message)
        for index, block in enumerate(message["content"]):
            if block["type"] == "text":
                self._event("content_block_start", {
                    "type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""},
                })
                if index == 0:
                    self._event("ping", {"type": "ping"})
                for piece in split_into_pieces(block["text"], TEXT_STREAM_PIECES):
                    time.sleep(STREAM_DELTA_DELAY_SECONDS)
                    self._event("content_block_delta", {
                        "type": "content_block_delta", "index": index,
                        "delta": {"type": "text_delta", "text": piece},
                    })
            else:  # tool_use: the input arrives as partial JSON strings
                self._event("content_block_start", {
                    "type": "content_block_start", "index": index,
                    "content_block": {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}},
                })
                if index == 0:
                    self._event("ping", {"type": "ping"})
                for piece in tool_json_pieces(block["input"]):
                    time.sleep(STREAM_DELTA_DELAY_SECONDS)
                    self._event("content_block_delta", {
                        "type": "content_block_delta", "index": index,
                        "delta": {"type": "input_json_delta", "partial_json": piece},
                    })
            self._event("content_block_stop", {"type": "content_block_stop", "index": index})
        self._event("message_delta", {
            "type": "message_delta",
            "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
            "usage": {"output_tokens": message["usage"]["output_tokens"]},
        })
        self._event("message_stop", {"type": "message_stop"})
        self._end_event_stream()

    def _stream_broken(self, message: dict[str, Any], with_error_event: bool) -> None:
        # Streaming Messages > Error events: e.g. an overloaded_error sent as an
        # SSE `error` event after the HTTP 200 head; nothing follows it. Without
        # the error event: a body that just ends, as when a proxy cuts it.
        self._start_event_stream({"request-id": _request_id()})
        self._message_start(message)
        self._event("content_block_start", {
            "type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""},
        })
        time.sleep(STREAM_DELTA_DELAY_SECONDS)
        self._event("content_block_delta", {
            "type": "content_block_delta", "index": 0,
            "delta": {"type": "text_delta", "text": ANTHROPIC_ERROR_MID_TEXT},
        })
        time.sleep(STREAM_DELTA_DELAY_SECONDS)
        if with_error_event:
            self._event("error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
        self._end_event_stream()
        self.close_connection = True


class AnthropicUpstream(FakeUpstream):
    """A fake Anthropic Messages API.

    Usage::

        with AnthropicUpstream() as claude:
            claude.base_url                     # "http://127.0.0.1:PORT/v1"
            claude.messages_requests("marker")  # POST /v1/messages bodies mentioning it
            claude.served                       # (body, input_tokens, output_tokens) answered
    """

    handler_class = _AnthropicHandler

    def __init__(self, host: str = "127.0.0.1", port: int = 0, api_key: str = ANTHROPIC_KEY,
                 models: Iterable[str] = ANTHROPIC_MODELS) -> None:
        self.api_key = api_key
        self.models = tuple(models)
        self._served_log: list[tuple[dict[str, Any], int, int]] = []
        super().__init__(host, port)

    def _served(self, body: dict[str, Any], input_tokens: int, output_tokens: int) -> None:
        with self._lock:
            self._served_log.append((body, input_tokens, output_tokens))

    @property
    def served(self) -> list[tuple[dict[str, Any], int, int]]:
        """Successful answers: (request body, usage.input_tokens, usage.output_tokens)."""
        with self._lock:
            return list(self._served_log)

    def clear(self) -> None:
        super().clear()
        with self._lock:
            self._served_log.clear()

    def messages_requests(self, marker: str | None = None) -> list[RecordedRequest]:
        """POST /v1/messages requests, optionally only those whose body mentions `marker`."""
        return self.find(
            lambda r: r.method == "POST" and route_of(r) == "/v1/messages"
            and (marker is None or marker in json.dumps(r.body))
        )

    def model_list_requests(self) -> list[RecordedRequest]:
        return self.find(lambda r: r.method == "GET" and route_of(r) == "/v1/models")


# ---------------------------------------------------------------------------
# Azure OpenAI
# ---------------------------------------------------------------------------

_CONTENT_FILTER_SAFE = {
    name: {"filtered": False, "severity": "safe"} for name in ("hate", "self_harm", "sexual", "violence")
}


class _AzureHandler(_VendorHandler):
    @property
    def azure(self) -> "AzureUpstream":
        return self.server.upstream  # type: ignore[return-value]

    # Azure OpenAI errors are {"error": {"code", "message"}} (REST API reference,
    # "Error response").
    def _send_azure_error(self, status: int, code: str, message: str) -> None:
        self._send_json(status, {"error": {"code": code, "message": message}},
                             {"apim-request-id": str(uuid.uuid4())})

    def _check(self, query: dict[str, list[str]]) -> bool:
        """Authentication (REST API reference > Authentication: `api-key` header) and
        the required `api-version` query parameter."""
        if self.headers.get("api-key") != self.azure.api_key:
            self._send_azure_error(
                401, "401",
                "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide "
                "a valid key for an active subscription and use a correct regional API endpoint for your resource.",
            )
            return False
        versions = query.get("api-version")
        if not versions:
            self._send_azure_error(404, "404", "Resource not found")
            return False
        if versions[0] not in AZURE_API_VERSIONS:
            self._send_azure_error(400, "BadRequest", "API version not supported")
            return False
        return True

    def do_GET(self) -> None:
        self._record(None)
        route, query = self._split_target()
        if not self._check(query):
            return
        if route == "/openai/deployments":
            # Deployments - List (api-version 2022-12-01 data plane).
            data = [
                {"id": name, "model": model, "object": "deployment", "status": "succeeded",
                 "owner": "organization-owner", "scale_settings": {"scale_type": "standard"},
                 "created_at": 1700000000, "updated_at": 1700000000}
                for name, model in self.azure.deployments.items()
            ]
            self._send_json(200, {"data": data, "object": "list"})
        elif route == "/openai/models":
            # Models - List: the base models the resource can deploy.
            data = [
                {"id": model, "object": "model", "status": "succeeded", "created_at": 1700000000,
                 "lifecycle_status": "generally-available",
                 "capabilities": {"chat_completion": not model.startswith("text-embedding"),
                                  "embeddings": model.startswith("text-embedding"),
                                  "completion": False, "fine_tune": False, "inference": True}}
                for model in sorted(set(self.azure.deployments.values()))
            ]
            self._send_json(200, {"data": data, "object": "list"})
        else:
            self._send_azure_error(404, "404", "Resource not found")

    def do_POST(self) -> None:
        body = self._read_json_body()
        route, query = self._split_target()
        if route == "/openai/v1/responses":
            self._responses(body)
            return
        match = re.fullmatch(r"/openai/deployments/([^/]+)/(chat/completions|embeddings)", route)
        if not match:
            self._send_azure_error(404, "404", "Resource not found")
            return
        if not self._check(query):
            return
        deployment, operation = match.groups()
        if deployment not in self.azure.deployments:
            self._send_azure_error(
                404, "DeploymentNotFound",
                "The API deployment for this resource does not exist. If you created the deployment within "
                "the last 5 minutes, please wait a moment and try again.",
            )
            return
        if not isinstance(body, dict):
            self._send_azure_error(400, "BadRequest", "The request body must be a JSON object")
            return
        with self._until_the_gateway_hangs_up():
            if operation == "embeddings":
                self._embeddings(deployment, body)
            else:
                self._chat(deployment, body)

    # Responses - Create, v1 API (POST /openai/v1/responses, no api-version; `model` is the deployment)
    def _responses(self, body: Any) -> None:
        if self.headers.get("api-key") != self.azure.api_key:
            self._send_azure_error(401, "401", "Access denied due to invalid subscription key or wrong API endpoint.")
            return
        if not isinstance(body, dict) or body.get("model") not in self.azure.deployments:
            self._send_azure_error(404, "DeploymentNotFound", "The API deployment for this resource does not exist.")
            return
        if body.get("stream"):
            self._send_azure_error(400, "BadRequest", "this fake answers Responses without streaming only")
            return
        text = f"azure deployment {body['model']}: {body.get('input') if isinstance(body.get('input'), str) else ''}"
        self._send_json(200, {
            "id": f"resp_{uuid.uuid4().hex}", "object": "response", "created_at": int(time.time()), "status": "completed",
            "model": self.azure.deployments[body["model"]], "parallel_tool_calls": True, "tool_choice": "auto", "tools": [],
            "output": [{"id": f"msg_{uuid.uuid4().hex[:12]}", "type": "message", "role": "assistant", "status": "completed",
                        "content": [{"type": "output_text", "text": text, "annotations": []}]}],
            "usage": {"input_tokens": 7, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 5,
                      "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 12},
        })

    # Chat completions - Create (POST /openai/deployments/{deployment-id}/chat/completions)
    def _chat(self, deployment: str, body: dict[str, Any]) -> None:
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            self._send_azure_error(400, "BadRequest", "'messages' is a required property")
            return
        model = self.azure.deployments[deployment] + "-2024-08-06"
        content = f"azure deployment {deployment}: {last_user_text(messages)}"
        usage = completion_usage(messages, content)
        completion_id = "chatcmpl-" + uuid.uuid4().hex[:29]
        created = int(time.time())
        if not body.get("stream"):
            self._send_json(200, {
                "id": completion_id,
                "object": "chat.completion",
                "created": created,
                "model": model,
                "system_fingerprint": "fp_azure",
                "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": _CONTENT_FILTER_SAFE}],
                "choices": [{
                    "index": 0,
                    "message": {"role": "assistant", "content": content, "refusal": None},
                    "logprobs": None,
                    "finish_reason": "stop",
                    "content_filter_results": _CONTENT_FILTER_SAFE,
                }],
                "usage": usage,
            })
            return

        def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
            return {
                "id": completion_id, "object": "chat.completion.chunk", "created": created, "model": model,
                "system_fingerprint": "fp_azure",
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason,
                             "content_filter_results": _CONTENT_FILTER_SAFE if delta.get("content") else {}}],
            }

        self._start_event_stream()
        # Azure opens every stream with a choice-less chunk carrying only the
        # prompt's content-filter results (id "", object "", created 0).
        self._write_event({
            "id": "", "object": "", "created": 0, "model": "", "choices": [],
            "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": _CONTENT_FILTER_SAFE}],
        })
        self._write_event(chunk({"role": "assistant", "content": "", "refusal": None}))
        for piece in split_into_pieces(content, TEXT_STREAM_PIECES):
            time.sleep(STREAM_DELTA_DELAY_SECONDS)
            self._write_event(chunk({"content": piece}))
        self._write_event(chunk({}, finish_reason="stop"))
        if wants_usage(body):
            self._write_event({
                "id": completion_id, "object": "chat.completion.chunk", "created": created, "model": model,
                "system_fingerprint": "fp_azure", "choices": [], "usage": usage,
            })
        self._write_event("[DONE]")
        self._end_event_stream()

    # Embeddings - Create (POST /openai/deployments/{deployment-id}/embeddings)
    def _embeddings(self, deployment: str, body: dict[str, Any]) -> None:
        inputs = embedding_inputs(body.get("input"))
        if not inputs:
            self._send_azure_error(400, "BadRequest", "'input' is a required property")
            return
        self._send_json(200, embeddings_answer(inputs, body, self.azure.deployments[deployment]))


class AzureUpstream(FakeUpstream):
    """A fake Azure OpenAI resource endpoint.

    Usage::

        with AzureUpstream() as azure:
            azure.base_url   # "http://127.0.0.1:PORT" (the resource endpoint, no /v1)
            azure.chat_requests("marker")
    """

    handler_class = _AzureHandler

    def __init__(self, host: str = "127.0.0.1", port: int = 0, api_key: str = AZURE_KEY,
                 deployments: dict[str, str] | None = None) -> None:
        self.api_key = api_key
        self.deployments = dict(deployments if deployments is not None else AZURE_DEPLOYMENTS)
        super().__init__(host, port)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def chat_requests(self, marker: str | None = None) -> list[RecordedRequest]:
        """Chat completion requests (any deployment) whose body mentions `marker`."""
        return self.find(
            lambda r: r.method == "POST" and route_of(r).endswith("/chat/completions")
            and (marker is None or marker in json.dumps(r.body))
        )

    def embedding_requests(self, marker: str | None = None) -> list[RecordedRequest]:
        return self.find(
            lambda r: r.method == "POST" and route_of(r).endswith("/embeddings")
            and (marker is None or marker in json.dumps(r.body))
        )


# ---------------------------------------------------------------------------
# Ollama (OpenAI compatibility: /v1/chat/completions, /v1/embeddings, /v1/models)
# ---------------------------------------------------------------------------


class _OllamaHandler(_VendorHandler):
    @property
    def ollama(self) -> "OllamaUpstream":
        return self.server.upstream  # type: ignore[return-value]

    def _send_ollama_error(self, status: int, message: str) -> None:
        self._send_openai_error(status, message, "api_error")

    def do_GET(self) -> None:
        self._record(None)
        route, _ = self._split_target()
        if route == "/v1/models":
            self._send_json(200, {
                "object": "list",
                "data": [{"id": name, "object": "model", "created": 1700000000, "owned_by": "library"}
                         for name in self.ollama.models],
            })
        elif route in ("/", "/api/version"):
            self._send_json(200, {"version": "0.5.7"})
        else:
            self._send_ollama_error(404, "404 page not found")

    def do_POST(self) -> None:
        body = self._read_json_body()
        route, _ = self._split_target()
        if route not in ("/v1/chat/completions", "/v1/embeddings"):
            self._send_ollama_error(404, "404 page not found")
            return
        if not isinstance(body, dict):
            self._send_ollama_error(400, "invalid request body")
            return
        model = body.get("model")
        if model not in self.ollama.models:
            self._send_ollama_error(404, f'model "{model}" not found, try pulling it first')
            return
        with self._until_the_gateway_hangs_up():
            if route == "/v1/embeddings":
                self._ollama_embeddings(model, body)
            else:
                self._ollama_chat(model, body)

    def _ollama_chat(self, model: str, body: dict[str, Any]) -> None:
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            self._send_ollama_error(400, "messages is required")
            return
        content = f"ollama {model}: {last_user_text(messages)}"
        usage = completion_usage(messages, content)
        completion_id = f"chatcmpl-{uuid.uuid4().int % 1000}"
        created = int(time.time())
        if not body.get("stream"):
            self._send_json(200, {
                "id": completion_id, "object": "chat.completion", "created": created, "model": model,
                "system_fingerprint": "fp_ollama",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                             "finish_reason": "stop"}],
                "usage": usage,
            })
            return

        def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
            return {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": model,
                    "system_fingerprint": "fp_ollama",
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}]}

        self._start_event_stream()
        pieces = split_into_pieces(content, TEXT_STREAM_PIECES)
        for index, piece in enumerate(pieces):
            if index:
                time.sleep(STREAM_DELTA_DELAY_SECONDS)
            self._write_event(chunk({"role": "assistant", "content": piece}))
        self._write_event(chunk({"role": "assistant", "content": ""}, finish_reason="stop"))
        if wants_usage(body):
            self._write_event({"id": completion_id, "object": "chat.completion.chunk", "created": created,
                               "model": model, "system_fingerprint": "fp_ollama", "choices": [], "usage": usage})
        self._write_event("[DONE]")
        self._end_event_stream()

    def _ollama_embeddings(self, model: str, body: dict[str, Any]) -> None:
        inputs = embedding_inputs(body.get("input"))
        if not inputs:
            self._send_ollama_error(400, "invalid input")
            return
        self._send_json(200, embeddings_answer(inputs, body, model))


class OllamaUpstream(FakeUpstream):
    """A fake Ollama server (its OpenAI-compatible endpoints).

    Usage::

        with OllamaUpstream() as ollama:
            ollama.base_url   # "http://127.0.0.1:PORT" (the gateway calls {base}/v1/...)
            ollama.chat_requests("marker")
    """

    handler_class = _OllamaHandler

    def __init__(self, host: str = "127.0.0.1", port: int = 0, models: Iterable[str] = OLLAMA_MODELS) -> None:
        self.models = tuple(models)
        super().__init__(host, port)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def chat_requests(self, marker: str | None = None) -> list[RecordedRequest]:
        return self.find(
            lambda r: r.method == "POST" and route_of(r) == "/v1/chat/completions"
            and (marker is None or marker in json.dumps(r.body))
        )


__all__ = [
    "ANTHROPIC_BAD_MESSAGE", "ANTHROPIC_ERROR_MID_TEXT", "ANTHROPIC_KEY", "ANTHROPIC_MODELS",
    "ANTHROPIC_PREAMBLE", "ANTHROPIC_SECOND_TOOL_INPUT", "ANTHROPIC_TEXT_PREFIX", "ANTHROPIC_TOOL_INPUT", "ANTHROPIC_TOOL_RESULT_PREFIX", "ANTHROPIC_VERSION",
    "AZURE_DEPLOYMENTS", "AZURE_KEY", "OLLAMA_MODELS", "AnthropicRequestError", "AnthropicUpstream",
    "AzureUpstream", "OllamaUpstream", "anthropic_block_texts", "anthropic_system_text", "query_of",
    "route_of", "tool_json_pieces", "validate_anthropic_request",
]
