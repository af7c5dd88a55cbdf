"""One A2A call on any binding, in-process, for tests that must see the same answer on each.

``a2a_call(binding, method, params, key=...)`` sends a JSON-RPC-style operation
(``SendMessage``, ``GetTask``, ``CancelTask``) over JSON-RPC (``/a2a/jsonrpc``), HTTP+JSON
(``/a2a/rest/...``), the WebSocket binding (``/ws/a2a``, one socket per call) or Cap'n Web
(a real RpcSession on ``A2AService``), through the real views, consumers and middleware, and
returns the result or the error in one shape.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from channels.testing import WebsocketCommunicator
from django.test import AsyncClient

from a2a.capnweb.errors import error_mapper
from a2a.capnweb.service import A2AService
from a2a.capnweb.streaming import Connection
from config.asgi import application
from tests.a2a import test_capnweb_service as capnweb
from tests.capnweb.peer import Peer

BINDINGS = ("jsonrpc", "rest", "websocket", "capnweb")
# The code each binding gives an invalid-params error: JSON-RPC's, or the HTTP status.
INVALID_PARAMS = {"jsonrpc": -32602, "rest": 400, "websocket": -32602, "capnweb": -32602}


@dataclass
class Answer:
    """A call's result, or its error as ``{"code", "message"}`` (code as the binding has it)."""

    result: Any = None
    error: dict[str, Any] | None = None


async def a2a_call(binding: str, method: str, params: dict[str, Any], *, key: str) -> Answer:
    """Make one A2A call over binding as the holder of key."""
    if binding == "jsonrpc":
        return await _jsonrpc(method, params, key)
    if binding == "rest":
        return await _rest(method, params, key)
    if binding == "websocket":
        return await _websocket(method, params, key)
    if binding == "capnweb":
        return await _capnweb(method, params, key)
    raise ValueError(f"unknown binding {binding!r}")


def _from_jsonrpc(body: dict[str, Any]) -> Answer:
    if "error" in body:
        return Answer(error={"code": body["error"]["code"], "message": body["error"]["message"]})
    return Answer(result=body["result"])


async def _jsonrpc(method: str, params: dict[str, Any], key: str) -> Answer:
    response = await AsyncClient().post(
        "/a2a/jsonrpc",
        data=json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}),
        content_type="application/json",
        headers={"Authorization": f"Bearer {key}", "A2A-Version": "1.0"},
    )
    assert response.status_code == 200, response.content
    return _from_jsonrpc(response.json())


async def _rest(method: str, params: dict[str, Any], key: str) -> Answer:
    client = AsyncClient()
    headers = {"Authorization": f"Bearer {key}", "A2A-Version": "1.0"}
    if method == "SendMessage":
        response = await client.post(
            "/a2a/rest/message:send",
            data=json.dumps(params),
            content_type="application/json",
            headers=headers,
        )
    elif method == "GetTask":
        response = await client.get(f"/a2a/rest/tasks/{params['id']}", headers=headers)
    elif method == "CancelTask":
        response = await client.post(
            f"/a2a/rest/tasks/{params['id']}:cancel",
            data="{}",
            content_type="application/json",
            headers=headers,
        )
    else:
        raise ValueError(f"no HTTP+JSON route for {method} here")
    body = response.json()
    if response.status_code != 200:
        return Answer(error={"code": body["error"]["code"], "message": body["error"]["message"]})
    return Answer(result=body)


async def _websocket(method: str, params: dict[str, Any], key: str) -> Answer:
    socket = WebsocketCommunicator(
        application,
        "/ws/a2a",
        headers=[
            (b"host", b"testserver"),
            (b"authorization", f"Bearer {key}".encode()),
            (b"a2a-version", b"1.0"),
        ],
    )
    connected, _ = await socket.connect()
    assert connected
    try:
        await socket.send_to(
            text_data=json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
        )
        return _from_jsonrpc(json.loads(await socket.receive_from(timeout=15)))
    finally:
        await socket.disconnect()


async def _capnweb(method: str, params: dict[str, Any], key: str) -> Answer:
    peer = Peer(A2AService(Connection(base_url="http://testserver")), error_mapper=error_mapper)
    if method == "SendMessage":
        args = [params["message"], params.get("configuration")]
    elif method in ("GetTask", "CancelTask"):
        args = [params["id"]]
    else:
        raise ValueError(f"no Cap'n Web method for {method} here")
    name = method[0].lower() + method[1:]
    await peer.feed(
        capnweb.call(0, "authenticate", {"type": "apiKey", "apiKey": key}),
        capnweb.call(1, name, *args),
    )
    message = await capnweb.answer(peer, 2)
    if message[0] == "reject":
        props = message[2][4] if len(message[2]) > 4 else {}
        return Answer(error={"code": props.get("code"), "message": message[2][2]})
    return Answer(result=capnweb.dec(message[2]))
