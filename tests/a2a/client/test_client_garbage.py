"""The A2A client against a remote that answers garbage or nothing: typed errors, in time."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from a2a.client import (
    A2AClient,
    ClientOptions,
    Credentials,
    InvalidAgentCard,
    MalformedResponse,
    NoCompatibleInterface,
    RequestTimeout,
    TransportError,
)
from a2a.client import errors as client_errors
from a2a.client.transport import Call, JsonRpcBinding, RestBinding
from a2a.protocol import errors as table
from a2a.protocol.types import AgentInterface
from common.netguard import guarded_async_client
from tests.factories import wire_message

LOCAL = ClientOptions(allowed_hosts=("127.0.0.1",))
TASK = {"id": "t1", "contextId": "c1", "status": {"state": "TASK_STATE_WORKING"}}


def _event(request_id: Any) -> bytes:
    body = {"jsonrpc": "2.0", "id": request_id, "result": {"task": TASK}}
    return b"data: %s\n\n" % json.dumps(body).encode()


class _Garbage(ThreadingHTTPServer):
    daemon_threads = True
    release = threading.Event()
    seen: list[dict[str, str]] = []


class _Handler(BaseHTTPRequestHandler):
    server: _Garbage
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, body: bytes, content_type: str, status: int = 200) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path == "/bad-card.json":
            self._send(b'{"name": "half a card", "skills": "none"}', "application/json")
        elif self.path == "/no-match.json":
            card = {
                "name": "grpc only",
                "description": "d",
                "version": "1",
                "capabilities": {},
                "supportedInterfaces": [
                    {"url": "http://x.io/", "protocolBinding": "GRPC", "protocolVersion": "1.0"}
                ],
                "defaultInputModes": [],
                "defaultOutputModes": [],
                "skills": [],
            }
            self._send(json.dumps(card).encode(), "application/json")
        elif self.path == "/not-json.json":
            self._send(b"<html>hello</html>", "text/html")
        else:
            self._send(b"Internal Server Error", "text/plain", status=500)

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
        request_id = request["id"]
        route = self.path
        if route == "/not-json":
            self._send(b"<html>oops</html>", "text/html")
        elif route == "/wrong-envelope":
            self._send(b'{"hello": "world"}', "application/json")
        elif route == "/record":
            self.server.seen.append(dict(self.headers.items()))
            body = {"jsonrpc": "2.0", "id": request_id, "result": TASK}
            self._send(json.dumps(body).encode(), "application/json")
        elif route == "/big":
            self._send(
                b'{"jsonrpc": "2.0", "id": 1, "result": "%s"}' % (b"x" * 5000), "application/json"
            )
        elif route == "/wrong-id":
            body = {"jsonrpc": "2.0", "id": "someone else's", "result": {"task": TASK}}
            self._send(json.dumps(body).encode(), "application/json")
        elif route == "/wrong-types":
            task = {"id": "t", "contextId": "c"}
            body = {"jsonrpc": "2.0", "id": request_id, "result": {"task": task}}
            self._send(json.dumps(body).encode(), "application/json")
        elif route == "/broken-sse":
            self._send(b"data: {not json\n\n", "text/event-stream")
        elif route == "/cut-sse":
            self._send(_event(request_id) + b'data: {"jsonrpc": "2.0"', "text/event-stream")
        elif route == "/short-sse":
            # The connection closes cleanly after a working task: the stream was cut short.
            self._send(_event(request_id), "text/event-stream")
        elif route == "/stall-sse":
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            self.wfile.write(_event(request_id))
            self.wfile.flush()
            self.server.release.wait(10)
        else:  # /hang: never answers
            self.server.release.wait(10)


@pytest.fixture(scope="module")
def garbage() -> Iterator[str]:
    server = _Garbage(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()
        thread.join()


async def test_headers_hook_and_credentials_reach_the_remote(garbage: str):
    seen = _Garbage.seen
    interface = AgentInterface(
        url=garbage + "/record", protocol_binding="JSONRPC", protocol_version="1.0"
    )
    calls: list[str] = []

    def hook(operation: str) -> dict[str, str]:
        calls.append(operation)
        return {"X-Delegation-Depth": "2", "a2a-version": "9.9", "Content-Type": "text/plain"}

    options = ClientOptions(
        allowed_hosts=("127.0.0.1",), credentials=Credentials.api_key("k-123"), headers_hook=hook
    )
    async with A2AClient(interface, options) as client:
        task = await client.get_task("t1")
    assert task.id == "t1"
    assert calls == ["GetTask"]
    [headers] = seen[-1:]
    assert headers["X-Delegation-Depth"] == "2"
    assert headers["X-API-Key"] == "k-123"
    # The protocol's own headers win over the hook's.
    assert headers["A2A-Version"] == "1.0"
    assert headers["Content-Type"] == "application/json"


def _client(base: str, path: str, binding: str = "JSONRPC") -> A2AClient:
    interface = AgentInterface(url=base + path, protocol_binding=binding, protocol_version="1.0")
    return A2AClient(interface, LOCAL)


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/not-json", "HTTP 200 with a body that is not JSON: '<html>oops</html>'"),
        ("/wrong-envelope", "not a JSON-RPC 2.0 response object"),
        ("/wrong-id", "the response's id \"someone else's\" is not the request's"),
        ("/wrong-types", "not a valid SendMessageResponse: task.status: Field required"),
    ],
)
async def test_garbage_answers_are_malformed(garbage: str, path: str, message: str):
    async with _client(garbage, path) as client:
        with pytest.raises(MalformedResponse) as bad:
            await client.send_message(wire_message("hi"))
    assert message in str(bad.value)


async def test_a_body_over_the_bound_is_malformed(garbage: str):
    interface = AgentInterface(
        url=garbage + "/big", protocol_binding="JSONRPC", protocol_version="1.0"
    )
    options = ClientOptions(allowed_hosts=("127.0.0.1",), max_response_bytes=1000)
    async with A2AClient(interface, options) as client:
        with pytest.raises(MalformedResponse, match="larger than 1000 bytes"):
            await client.get_task("t1")


async def test_rest_error_without_an_a2a_body_is_malformed(garbage: str):
    async with _client(garbage, "/rest", "HTTP+JSON") as client:
        with pytest.raises(
            MalformedResponse, match="HTTP 500 where an A2A error body was expected"
        ) as bad:
            await client.get_task("t1")
    assert bad.value.status == 500


@pytest.mark.parametrize(
    ("path", "error", "message"),
    [
        ("/broken-sse", MalformedResponse, "an SSE event is not JSON: '{not json'"),
        ("/cut-sse", MalformedResponse, "the SSE stream ended in the middle of an event"),
        ("/short-sse", TransportError, "the stream ended before the task reached a final state"),
    ],
)
async def test_broken_streams(garbage: str, path: str, error: type[Exception], message: str):
    async with _client(garbage, path) as client:
        with pytest.raises(error) as bad:
            [e async for e in client.send_streaming_message(wire_message("hi"))]
    assert message in str(bad.value)


async def test_a_remote_that_never_answers_times_out_within_the_deadline(garbage: str):
    async with _client(garbage, "/hang") as client:
        started = time.monotonic()
        with pytest.raises(RequestTimeout, match=r"no complete answer within 0\.5 s"):
            await client.get_task("t1", deadline=0.5)
    assert time.monotonic() - started < 2.0


async def test_a_stalled_stream_times_out_when_idle(garbage: str):
    async with _client(garbage, "/stall-sse") as client:
        stream = client.subscribe_to_task("t1", idle_timeout=0.5)
        first = await anext(stream)
        started = time.monotonic()
        with pytest.raises(RequestTimeout, match=r"timed out after 0\.5 s without a byte"):
            await anext(stream)
    assert first.kind == "task"
    assert time.monotonic() - started < 2.0


async def test_a_stream_times_out_at_its_deadline(garbage: str):
    async with _client(garbage, "/stall-sse") as client:
        with pytest.raises(RequestTimeout, match=r"the stream's deadline of 0\.4 s"):
            [e async for e in client.subscribe_to_task("t1", idle_timeout=5, deadline=0.4)]


@pytest.mark.parametrize(
    ("path", "error", "message"),
    [
        ("/bad-card.json", InvalidAgentCard, "not a valid A2A 1.0 agent card: description:"),
        ("/not-json.json", InvalidAgentCard, "the agent card is not JSON"),
        ("/no-match.json", NoCompatibleInterface, "offers GRPC 1.0; this client uses"),
        ("/", MalformedResponse, "expected the agent card, got HTTP 500"),
    ],
)
async def test_bad_cards(garbage: str, path: str, error: type[Exception], message: str):
    with pytest.raises(error) as bad:
        await A2AClient.connect(garbage + path, LOCAL)
    assert message in str(bad.value)


# Every row of the server's error table, rendered as the server renders it, maps to its type.
ROWS = [(cls.protocol_error, cls) for cls in client_errors._TABLE]
ROWS += [(table.PermissionDeniedError, client_errors.AuthenticationFailed)]
ROWS += [(table.ServiceUnavailableError, client_errors.ServiceUnavailable)]


@pytest.mark.parametrize(("protocol_error", "client_error"), ROWS)
async def test_every_error_of_the_table_has_its_type(protocol_error, client_error):
    if protocol_error is table.RateLimitedError:
        error = table.RateLimitedError("it went wrong", retry_after=7, limit=10)
    else:
        error = protocol_error("it went wrong", metadata={"taskId": "t9"})
    status = error.http_status if error.http_status in (401, 403, 429, 503) else 200
    http = guarded_async_client()
    common = {"version": "1.0", "tenant": None, "headers": dict, "max_response_bytes": 1000}
    rpc = JsonRpcBinding(http, url="http://agent.example/rpc", **common)  # type: ignore[arg-type]
    rest = RestBinding(http, url="http://agent.example/rest", **common)  # type: ignore[arg-type]
    rpc_body = json.dumps({"jsonrpc": "2.0", "id": 1, "error": error.jsonrpc_error()}).encode()
    rest_body = json.dumps(error.rest_error()).encode()
    for binding, code, body in ((rpc, status, rpc_body), (rest, error.http_status, rest_body)):
        with pytest.raises(client_error) as raised:
            binding.result(Call("GetTask", 1), code, body)
        assert type(raised.value) is client_error
        assert raised.value.reason == error.reason
        assert error.message in str(raised.value)
        if client_error is client_errors.RateLimited:
            assert raised.value.retry_after == 7.0
        else:
            assert raised.value.metadata["taskId"] == "t9"
    await http.aclose()
