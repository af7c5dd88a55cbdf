"""The WebSocket binding in-process, through the real ASGI application and its middleware."""

from __future__ import annotations

import json
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator

from a2a.models import Task
from config.asgi import application
from tests.factories import message_params

pytestmark = pytest.mark.django_db(transaction=True)


def _communicator(
    key: str | None = None,
    *,
    origin: str | None = None,
    version: str | None = "1.0",
    path: str = "/ws/a2a",
    host: str = "testserver",
) -> WebsocketCommunicator:
    headers = [(b"host", host.encode())]
    if key is not None:
        headers.append((b"authorization", f"Bearer {key}".encode()))
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    if version is not None:
        headers.append((b"a2a-version", version.encode()))
    return WebsocketCommunicator(application, path, headers=headers)


async def _open(key: str, **kwargs: Any) -> WebsocketCommunicator:
    communicator = _communicator(key, **kwargs)
    connected, _ = await communicator.connect()
    assert connected
    return communicator


async def _call(ws: WebsocketCommunicator, request_id: Any, method: str, params: Any) -> None:
    await ws.send_to(
        text_data=json.dumps(
            {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}
        )
    )


async def _receive(ws: WebsocketCommunicator) -> Any:
    return json.loads(await ws.receive_from(timeout=5))


async def _collect_stream(
    ws: WebsocketCommunicator, request_id: Any
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Read notifications for request_id until its final response."""
    events = []
    while True:
        message = await _receive(ws)
        if message.get("method") == "StreamResponse":
            assert message["params"]["requestId"] == request_id
            events.append(message["params"])
        else:
            assert message["id"] == request_id
            return events, message


async def test_handshake_without_credentials_is_refused():
    connected, code = await _communicator(None).connect()
    assert (connected, code) == (False, 4401)


async def test_handshake_with_a_bad_key_is_refused():
    connected, code = await _communicator("wcp_nope").connect()
    assert (connected, code) == (False, 4401)


async def test_foreign_browser_origin_is_refused(api_key):
    connected, code = await _communicator(api_key, origin="https://evil.example").connect()
    assert (connected, code) == (False, 4403)


async def test_same_host_and_configured_origins_are_accepted(api_key, settings):
    ws = await _open(api_key, origin="http://testserver")
    await ws.disconnect()
    settings.CORS_ALLOWED_ORIGINS = ["https://app.example"]
    ws = await _open(api_key, origin="https://app.example")
    await ws.disconnect()


async def test_unary_call_and_errors(api_key):
    ws = await _open(api_key)
    await _call(ws, 1, "GetTask", {"id": "4e1d8b37-0000-4000-8000-000000000000"})
    assert (await _receive(ws))["error"]["code"] == -32001
    await ws.send_to(text_data="{nope")
    reply = await _receive(ws)
    assert (reply["id"], reply["error"]["code"]) == (None, -32700)
    await _call(ws, "x", "NoSuchMethod", {})
    assert (await _receive(ws))["error"]["code"] == -32601
    await _call(ws, 2, "GetTask", {})
    reply = await _receive(ws)
    assert reply["error"]["code"] == -32602
    assert "id: Field required" in reply["error"]["message"]
    await ws.send_to(bytes_data=b"\x00")
    assert "text frames" in (await _receive(ws))["error"]["message"]
    await ws.disconnect()


async def test_oversized_frame_is_refused(api_key, settings):
    settings.WEBCAP_MAX_REQUEST_BYTES = 100
    ws = await _open(api_key)
    await _call(ws, 1, "SendMessage", message_params("x" * 200))
    reply = await _receive(ws)
    assert reply["error"]["code"] == -32600
    assert "limited to 100 bytes" in reply["error"]["message"]
    assert await Task.objects.acount() == 0
    await ws.disconnect()


async def test_version_from_query_string(api_key):
    ws = await _open(api_key, version=None, path="/ws/a2a?A2A-Version=1.0")
    await _call(ws, 1, "GetTask", {"id": "x"})
    assert (await _receive(ws))["error"]["code"] == -32001
    await ws.disconnect()
    ws = await _open(api_key, version=None)
    await _call(ws, 1, "GetTask", {"id": "x"})
    error = (await _receive(ws))["error"]
    assert (error["code"], error["message"]) == (
        -32009,
        "GetTask is an A2A 1.0 operation, and this request asks for A2A 0.3 (no A2A-Version "
        "header means 0.3): send the header 'A2A-Version: 1.0' (or the query parameter "
        "?A2A-Version=1.0); a client speaking A2A 0.3 calls tasks/get instead",
    )
    await ws.disconnect()


async def test_malformed_version_closes_with_what_to_send(api_key):
    ws = _communicator(api_key, version="one")
    connected, _ = await ws.connect()
    assert connected  # accepted only so that the close can say why
    assert await ws.receive_output(timeout=5) == {
        "type": "websocket.close",
        "code": 4400,
        "reason": "A2A-Version must be Major.Minor: send the header 'A2A-Version: 1.0' (or "
        "the query parameter ?A2A-Version=1.0)",
    }
    await ws.wait()


async def test_send_message_and_stream_on_one_socket(api_key):
    ws = await _open(api_key)
    await _call(ws, "blocking", "SendMessage", message_params("one two"))
    reply = await _receive(ws)
    assert reply["result"]["task"]["status"]["state"] == "TASK_STATE_COMPLETED"

    await _call(ws, "s", "SendStreamingMessage", message_params("a b"))
    events, final = await _collect_stream(ws, "s")
    assert [e["seq"] for e in events] == [1, 2, 3, 4, 5]
    kinds = [next(iter(e["result"])) for e in events]
    assert kinds == ["task", "statusUpdate", "artifactUpdate", "artifactUpdate", "statusUpdate"]
    assert events[-1]["result"]["statusUpdate"]["status"]["state"] == "TASK_STATE_COMPLETED"
    assert final["result"] == {"done": True, "lastSeq": 5}
    await ws.disconnect()


async def test_other_users_task_is_not_found_over_websocket(api_key, other_api_key):
    ws = await _open(api_key)
    await _call(ws, 1, "SendMessage", message_params("mine"))
    task_id = (await _receive(ws))["result"]["task"]["id"]
    await ws.disconnect()
    other = await _open(other_api_key)
    for method in ("GetTask", "CancelTask", "SubscribeToTask"):
        await _call(other, method, method, {"id": task_id})
        reply = await _receive(other)
        assert (reply["id"], reply["error"]["code"]) == (method, -32001)
    await other.disconnect()
    task = await Task.objects.aget(pk=task_id)
    assert task.state == "completed"


async def test_requests_in_flight_are_limited(api_key, settings):
    settings.WEBCAP_WS_MAX_CONCURRENT = 0
    ws = await _open(api_key)
    await _call(ws, 9, "GetTask", {"id": "x"})
    reply = await _receive(ws)
    assert (reply["id"], reply["error"]["code"]) == (9, -32600)
    assert "limit 0" in reply["error"]["message"]
    await ws.disconnect()


async def test_subscribe_with_last_event_seq_replays_what_was_missed(api_key):
    ws = await _open(api_key)
    await _call(ws, 1, "SendMessage", message_params("a b c"))
    task_id = (await _receive(ws))["result"]["task"]["id"]
    await _call(ws, "r", "SubscribeToTask", {"id": task_id, "lastEventSeq": 3})
    events, final = await _collect_stream(ws, "r")
    assert [e["seq"] for e in events] == [4, 5, 6]
    assert final["result"] == {"done": True, "lastSeq": 6}
    await ws.disconnect()
