"""A scriptable fake of the OpenAI Chat Completions HTTP API, served on 127.0.0.1.

webcap talks to models only through litellm (``assistant/llm.py``). To test that path for real,
the model is faked at its HTTP edge and nowhere else: ``FakeLLM`` is a real HTTP server that
speaks the OpenAI wire format, so ``litellm.completion(model="openai/<anything>",
api_base=fake.base_url, ...)`` runs litellm's and the OpenAI SDK's own request building,
Server-Sent Events parsing, delta assembly, error mapping and timeouts. Nothing in litellm is
mocked; a test only says what the "model" answers next::

    with FakeLLM() as fake:
        fake.script(
            ToolCalls([("call_1", "search", {"q": "django"})]),
            Error(429, retry_after=0.1),
            Text("Django is a web framework."),
        )
        ...  # drive webcap against fake.base_url
        assert fake.requests[0]["tools"][0]["function"]["name"] == "search"

Each ``POST /v1/chat/completions`` (or ``/chat/completions``) consumes the next scripted
response, first in first out:

- ``Text``: an assistant answer, streamed word by word (or in ``chunks`` pieces);
- ``ToolCalls``: an assistant turn calling one or more tools (parallel calls get distinct
  indexes), the JSON arguments split over several deltas as OpenAI streams them;
- ``Error``: an HTTP error with OpenAI's JSON error body and an optional ``Retry-After``;
- ``Hang``: the request is read, then nothing is sent for a while, then the connection closes.

``"stream": true`` is answered with ``text/event-stream`` chunks (``data: {...}`` ...
``data: [DONE]``), including the final usage chunk when ``stream_options.include_usage`` is
set; ``"stream": false`` with one ``chat.completion`` object. A request that finds the script
empty gets HTTP 500 "FakeLLM: no scripted response left", so a test that forgot a response
fails loudly instead of hanging. Every request body and its headers are recorded.
"""

from __future__ import annotations

import contextlib
import json
import re
import secrets
import socket
import string
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

__all__ = [
    "LITELLM_INSTANCE_ATTRIBUTE_WARNING",
    "NO_SCRIPT_LEFT",
    "Error",
    "FakeLLM",
    "Hang",
    "Response",
    "Text",
    "ToolCalls",
]

NO_SCRIPT_LEFT = "FakeLLM: no scripted response left"

# For ``pytest.mark.filterwarnings`` on tests that stream with ``include_usage``. litellm reads
# every attribute of the usage chunk's delta, pydantic 2.11+ warns on the instance-level
# ``model_computed_fields`` / ``model_fields``, and litellm's own ``ignore`` filter for that
# warning (set when litellm is imported) is undone by pytest's per-test warning capture. Under
# ``filterwarnings = error`` the warning then raises inside litellm's stream handler, which
# reports it as a ``MidStreamFallbackError``.
LITELLM_INSTANCE_ATTRIBUTE_WARNING = (
    "ignore:Accessing the .* attribute on the instance is deprecated"
    ":pydantic.warnings.PydanticDeprecatedSince211"
)
CHAT_PATHS = frozenset({"/v1/chat/completions", "/chat/completions"})
SYSTEM_FINGERPRINT = "fp_fakellm"


@dataclass
class Text:
    """An assistant text answer.

    Streamed, it is split into ``chunks`` pieces of about equal length; by default one piece
    per word, each keeping its surrounding spaces, so joining the deltas gives ``text``
    exactly. ``usage`` is (prompt_tokens, completion_tokens); by default rough word counts.
    ``delay`` pauses that many seconds before each content delta (to watch progress).
    """

    text: str
    chunks: int | None = None
    usage: tuple[int, int] | None = None
    delay: float = 0.0


@dataclass
class ToolCalls:
    """An assistant turn that calls tools; ``finish_reason`` is ``"tool_calls"``.

    Each call is ``(call_id, function_name, arguments)``: a dict is JSON-encoded, a string is
    sent verbatim (to test malformed JSON). Several calls are parallel calls, indexed 0, 1...
    Streamed, each call's arguments are split over ``argument_chunks`` deltas; ``text``, if
    any, is streamed as content before the calls.
    """

    calls: list[tuple[str, str, dict[str, Any] | str]]
    text: str = ""
    usage: tuple[int, int] | None = None
    argument_chunks: int = 3


@dataclass
class Error:
    """An HTTP error with an OpenAI-style body ``{"error": {"message", "type", "code"}}``.

    An empty ``message`` uses OpenAI's usual wording for the status; ``error_type`` and
    ``code`` default from the status too (429 is ``rate_limit_error``, 5xx ``server_error``).
    ``retry_after`` (seconds) adds a ``Retry-After`` header.

    litellm picks its exception partly from the body's text, before the status: a message
    that mentions a rate limit is a ``RateLimitError`` and "This model's maximum context
    length is ..." a ``ContextWindowExceededError``, whatever the status.
    """

    status: int
    message: str = ""
    retry_after: float | None = None
    error_type: str | None = None
    code: str | None = None


@dataclass
class Hang:
    """Read the request, send nothing for ``seconds`` (a client timeout fires), then close."""

    seconds: float


Response = Text | ToolCalls | Error | Hang

# status -> (type, code, message), modelled on what api.openai.com sends.
_ERRORS: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "Invalid request."),
    # OpenAI says "invalid_request_error" here, but litellm maps that type to BadRequestError
    # unless the message reads "Incorrect API key provided"; this keeps any 401 an auth error.
    401: ("authentication_error", "invalid_api_key", "Incorrect API key provided."),
    403: ("permission_error", None, "You are not allowed to use this model."),
    404: ("invalid_request_error", "model_not_found", "The model does not exist."),
    408: ("timeout_error", None, "Request timed out."),
    422: ("invalid_request_error", None, "Unprocessable request."),
    429: (
        "rate_limit_error",
        "rate_limit_exceeded",
        "Rate limit reached for requests. Please try again later.",
    ),
    500: (
        "server_error",
        None,
        "The server had an error while processing your request. Sorry about that!",
    ),
    502: ("server_error", "bad_gateway", "Bad gateway."),
    503: (
        "server_error",
        "service_unavailable",
        "The engine is currently overloaded, please try again later.",
    ),
    504: ("server_error", "gateway_timeout", "Gateway timeout."),
}

_ID_ALPHABET = string.ascii_letters + string.digits


def _random_id(prefix: str, length: int = 29) -> str:
    return prefix + "".join(secrets.choice(_ID_ALPHABET) for _ in range(length))


def _words(text: str) -> int:
    return len(text.split())


def split_words(text: str) -> list[str]:
    """Split text into one piece per word, spaces kept, so ``"".join(pieces) == text``."""
    pieces = re.findall(r"\s*\S+\s*", text)
    return pieces if pieces else ([text] if text else [])


def split_even(text: str, pieces: int) -> list[str]:
    """Split text into at most ``pieces`` non-empty slices of about equal length."""
    if not text:
        return []
    pieces = max(1, min(pieces, len(text)))
    size, extra = divmod(len(text), pieces)
    out: list[str] = []
    start = 0
    for i in range(pieces):
        end = start + size + (1 if i < extra else 0)
        out.append(text[start:end])
        start = end
    return out


def _prompt_words(body: dict[str, Any]) -> int:
    total = 0
    for message in body.get("messages") or []:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            total += _words(content)
        elif isinstance(content, list):
            for part in content:
                if isinstance(part, dict) and isinstance(part.get("text"), str):
                    total += _words(part["text"])
        total += 4  # OpenAI's per-message overhead, roughly.
    return max(total, 1)


class _Server(ThreadingHTTPServer):
    """A threaded server that can cut its open connections when it stops."""

    daemon_threads = True
    fake: FakeLLM

    def __init__(self, fake: FakeLLM) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.fake = fake
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.connections_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def cut_connections(self) -> None:
        with self.connections_lock:
            connections = list(self.connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"  # keep-alive, and chunked transfer for streams

    def log_message(self, format: str, *args: Any) -> None:
        pass

    # --- routing --------------------------------------------------------------------------

    def do_POST(self) -> None:
        raw = self._read_body()
        if self._path() not in CHAT_PATHS:
            self._not_found()
            return
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            body = None
        if not isinstance(body, dict):
            self._send_json(
                400, _error_body(400, "FakeLLM: the request body is not a JSON object.")
            )
            return
        headers = {key.lower(): value for key, value in self.headers.items()}
        response = self.server.fake._take(body, headers)
        self._answer(body, response)

    def do_GET(self) -> None:
        self._not_found()

    def do_PUT(self) -> None:
        self._read_body()
        self._not_found()

    def do_PATCH(self) -> None:
        self._read_body()
        self._not_found()

    def do_DELETE(self) -> None:
        self._not_found()

    def _path(self) -> str:
        return self.path.split("?", 1)[0]

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _not_found(self) -> None:
        message = f"FakeLLM: unknown path {self.command} {self._path()}"
        self._send_json(404, _error_body(404, message, code="unknown_url"))

    # --- answers --------------------------------------------------------------------------

    def _answer(self, body: dict[str, Any], response: Response | None) -> None:
        try:
            if response is None:
                self._send_json(500, _error_body(500, NO_SCRIPT_LEFT))
            elif isinstance(response, Error):
                self._send_error(response)
            elif isinstance(response, Hang):
                self.server.fake._stopping.wait(response.seconds)
                self.close_connection = True
            elif body.get("stream"):
                self._send_stream(body, response)
            else:
                self._send_json(200, _completion(body, response))
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (its timeout, or a cancelled stream): nothing to answer.
            self.close_connection = True

    def _send_error(self, error: Error) -> None:
        extra: dict[str, str] = {}
        if error.retry_after is not None:
            seconds = error.retry_after
            extra["Retry-After"] = str(int(seconds)) if seconds == int(seconds) else str(seconds)
        body = _error_body(error.status, error.message, error.error_type, error.code)
        self._send_json(error.status, body, extra)

    def _send_json(
        self, status: int, payload: dict[str, Any], extra: dict[str, str] | None = None
    ) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-request-id", _random_id("req_", 24))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _send_stream(self, body: dict[str, Any], response: Text | ToolCalls) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("x-request-id", _random_id("req_", 24))
        self.end_headers()
        delay = response.delay if isinstance(response, Text) else 0.0
        for event, pause in _stream_events(body, response, delay):
            if pause and self.server.fake._stopping.wait(pause):
                break
            self._write_chunk(f"data: {event}\n\n".encode())
        self._write_chunk(b"")

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()


def _error_body(
    status: int, message: str = "", error_type: str | None = None, code: str | None = None
) -> dict[str, Any]:
    default_type, default_code, default_message = _ERRORS.get(
        status,
        ("server_error" if status >= 500 else "invalid_request_error", None, f"HTTP {status}"),
    )
    return {
        "error": {
            "message": message or default_message,
            "type": error_type or default_type,
            "param": None,
            "code": code or default_code,
        }
    }


def _arguments(arguments: dict[str, Any] | str) -> str:
    return arguments if isinstance(arguments, str) else json.dumps(arguments)


def _usage(body: dict[str, Any], response: Text | ToolCalls) -> dict[str, Any]:
    if response.usage is not None:
        prompt, completion = response.usage
    else:
        prompt = _prompt_words(body)
        completion = _words(response.text)
        if isinstance(response, ToolCalls):
            completion += sum(
                _words(name) + _words(_arguments(args)) for _, name, args in response.calls
            )
        completion = max(completion, 1)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
    }


def _envelope(body: dict[str, Any], completion_id: str, created: int, kind: str) -> dict[str, Any]:
    return {
        "id": completion_id,
        "object": kind,
        "created": created,
        "model": body.get("model") or "fake-model",
        "system_fingerprint": SYSTEM_FINGERPRINT,
    }


def _completion(body: dict[str, Any], response: Text | ToolCalls) -> dict[str, Any]:
    """The non-streamed ``chat.completion`` object for a response."""
    message: dict[str, Any] = {"role": "assistant", "content": response.text, "refusal": None}
    finish_reason = "stop"
    if isinstance(response, ToolCalls):
        finish_reason = "tool_calls"
        message["content"] = response.text or None
        message["tool_calls"] = [
            {
                "id": call_id,
                "type": "function",
                "function": {"name": name, "arguments": _arguments(args)},
            }
            for call_id, name, args in response.calls
        ]
    payload = _envelope(body, _random_id("chatcmpl-"), int(time.time()), "chat.completion")
    payload["choices"] = [
        {"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}
    ]
    payload["usage"] = _usage(body, response)
    return payload


def _stream_events(
    body: dict[str, Any], response: Text | ToolCalls, delay: float
) -> list[tuple[str, float]]:
    """The SSE ``data:`` payloads of a streamed response, each with the pause before it."""
    envelope = _envelope(body, _random_id("chatcmpl-"), int(time.time()), "chat.completion.chunk")
    options = body.get("stream_options")
    include_usage = isinstance(options, dict) and bool(options.get("include_usage"))
    events: list[tuple[str, float]] = []

    def chunk(delta: dict[str, Any], finish_reason: str | None = None, pause: float = 0.0) -> None:
        payload = dict(envelope)
        payload["choices"] = [
            {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        ]
        if include_usage:
            payload["usage"] = None
        events.append((json.dumps(payload), pause))

    if isinstance(response, Text):
        pieces = (
            split_words(response.text)
            if response.chunks is None
            else split_even(response.text, response.chunks)
        )
        chunk({"role": "assistant", "content": "", "refusal": None})
        for piece in pieces:
            chunk({"content": piece}, pause=delay)
        chunk({}, "stop")
    else:
        if response.text:
            chunk({"role": "assistant", "content": "", "refusal": None})
            for piece in split_words(response.text):
                chunk({"content": piece})
        for index, (call_id, name, args) in enumerate(response.calls):
            opening: dict[str, Any] = {
                "tool_calls": [
                    {
                        "index": index,
                        "id": call_id,
                        "type": "function",
                        "function": {"name": name, "arguments": ""},
                    }
                ]
            }
            if index == 0 and not response.text:
                opening = {"role": "assistant", "content": None, **opening}
            chunk(opening)
            for piece in split_even(_arguments(args), response.argument_chunks):
                chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
        chunk({}, "tool_calls")
    if include_usage:
        final = dict(envelope)
        final["choices"] = []
        final["usage"] = _usage(body, response)
        events.append((json.dumps(final), 0.0))
    events.append(("[DONE]", 0.0))
    return events


class FakeLLM:
    """A fake OpenAI Chat Completions server on 127.0.0.1; starts at once, ``close()`` stops.

    ``base_url`` is what to give litellm as ``api_base``. ``script()`` queues responses;
    ``requests`` and ``headers`` hold each received request's JSON body and its headers
    (names lower-cased), in arrival order.
    """

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._queue: list[Response] = []
        self._requests: list[dict[str, Any]] = []
        self._headers: list[dict[str, str]] = []
        self._stopping = threading.Event()
        self._server = _Server(self)
        self.port: int = self._server.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},  # so close() returns at once
            name=f"fakellm-{self.port}",
            daemon=True,
        )
        self._thread.start()

    def __enter__(self) -> FakeLLM:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop serving: wake hanging responses and cut open connections. Idempotent."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._server.cut_connections()
        self._thread.join(timeout=5)

    def script(self, *responses: Response) -> None:
        """Queue responses; each chat-completions request consumes the next one."""
        for response in responses:
            if not isinstance(response, Text | ToolCalls | Error | Hang):
                raise TypeError(f"not a FakeLLM response: {response!r}")
        with self._lock:
            self._queue.extend(responses)

    @property
    def remaining(self) -> int:
        """How many scripted responses no request has consumed yet."""
        with self._lock:
            return len(self._queue)

    @property
    def requests(self) -> list[dict[str, Any]]:
        """The JSON bodies of the chat-completions requests received so far (a copy)."""
        with self._lock:
            return list(self._requests)

    @property
    def headers(self) -> list[dict[str, str]]:
        """The headers of each request in ``requests``, names lower-cased (a copy)."""
        with self._lock:
            return list(self._headers)

    def wait_for_requests(self, n: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Wait until at least n requests arrived and return their bodies; fail on timeout."""
        with self._lock:
            if not self._lock.wait_for(lambda: len(self._requests) >= n, timeout):
                raise AssertionError(
                    f"FakeLLM got {len(self._requests)} of {n} requests in {timeout} s"
                )
            return list(self._requests)

    def _take(self, body: dict[str, Any], headers: dict[str, str]) -> Response | None:
        with self._lock:
            self._requests.append(body)
            self._headers.append(headers)
            self._lock.notify_all()
            return self._queue.pop(0) if self._queue else None


def collect_stream(
    chunks: list[Any],
) -> tuple[list[Any], str, dict[int, dict[str, str]], str | None, Any]:
    """Accumulate litellm stream chunks the way assistant/llm.py reads them.

    Returns (chunks, text, tool calls by index, finish reason, usage).
    """
    text = ""
    calls: dict[int, dict[str, str]] = {}
    finish = None
    usage = None
    for chunk in chunks:
        if getattr(chunk, "usage", None) is not None:
            usage = chunk.usage
        if not chunk.choices:
            continue
        delta = chunk.choices[0].delta
        text += delta.content or ""
        for call in delta.tool_calls or []:
            entry = calls.setdefault(call.index, {"id": "", "name": "", "arguments": ""})
            entry["id"] = call.id or entry["id"]
            entry["name"] = call.function.name or entry["name"]
            entry["arguments"] += call.function.arguments or ""
        if chunk.choices[0].finish_reason:
            finish = chunk.choices[0].finish_reason
    return chunks, text, calls, finish, usage
