"""The /ws/a2a binding against a real server with a real WebSocket client (websockets)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect

from tests.factories import message_params
from tests.live.server import LiveServer

pytestmark = pytest.mark.live


def _connect(server: LiveServer, key: str | None, **headers: str) -> ClientConnection:
    sent = {"A2A-Version": "1.0", **headers}
    if key is not None:
        sent["Authorization"] = f"Bearer {key}"
    return connect(server.ws_url, additional_headers=sent, open_timeout=10)


def _request(ws: ClientConnection, request_id: Any, method: str, params: Any) -> None:
    ws.send(json.dumps({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}))


def _read_until_done(ws: ClientConnection, request_ids: set[Any]) -> dict[Any, dict[str, Any]]:
    """Collect stream notifications and final responses until every request has ended."""
    results: dict[Any, dict[str, Any]] = {rid: {"events": [], "final": None} for rid in request_ids}
    open_ids = set(request_ids)
    while open_ids:
        message = json.loads(ws.recv(timeout=20))
        if message.get("method") == "StreamResponse":
            results[message["params"]["requestId"]]["events"].append(message["params"])
        else:
            results[message["id"]]["final"] = message
            open_ids.discard(message["id"])
    return results


def _check_lifecycle(events: list[dict[str, Any]], words: list[str]) -> None:
    assert [e["seq"] for e in events] == list(range(1, len(words) + 4))
    results = [e["result"] for e in events]
    assert results[0]["task"]["status"]["state"] == "TASK_STATE_SUBMITTED"
    assert results[1]["statusUpdate"]["status"]["state"] == "TASK_STATE_WORKING"
    chunks = [r["artifactUpdate"] for r in results[2:-1]]
    assert "".join(c["artifact"]["parts"][0]["text"] for c in chunks) == " ".join(words)
    assert [c["append"] for c in chunks] == [False] + [True] * (len(words) - 1)
    assert [c["lastChunk"] for c in chunks] == [False] * (len(words) - 1) + [True]
    assert results[-1]["statusUpdate"]["status"]["state"] == "TASK_STATE_COMPLETED"


def test_streaming_over_websocket(webcap_server: LiveServer, live_keys):
    words = ["one", "two", "three", "four"]
    with _connect(webcap_server, live_keys["alice"]) as ws:
        _request(ws, "s1", "SendStreamingMessage", message_params(" ".join(words)))
        result = _read_until_done(ws, {"s1"})["s1"]
    _check_lifecycle(result["events"], words)
    assert result["final"]["result"] == {"done": True, "lastSeq": len(words) + 3}


def test_two_concurrent_streams_and_a_unary_call_on_one_socket(
    webcap_server: LiveServer, live_keys
):
    first = [f"a{i}" for i in range(12)]
    second = [f"b{i}" for i in range(8)]
    with _connect(webcap_server, live_keys["alice"]) as ws:
        _request(ws, 1, "SendStreamingMessage", message_params(" ".join(first)))
        _request(ws, 2, "SendStreamingMessage", message_params(" ".join(second)))
        _request(ws, 3, "GetTask", {"id": "00000000-0000-4000-8000-000000000000"})
        results = _read_until_done(ws, {1, 2, 3})
    _check_lifecycle(results[1]["events"], first)
    _check_lifecycle(results[2]["events"], second)
    assert results[3]["final"]["error"]["code"] == -32001
    task_ids = {results[i]["events"][0]["result"]["task"]["id"] for i in (1, 2)}
    assert len(task_ids) == 2


def test_client_disconnect_mid_stream_does_not_stop_the_task(webcap_server: LiveServer, live_keys):
    key = live_keys["alice"]
    words = [f"w{i}" for i in range(30)]
    with _connect(webcap_server, key) as ws:
        _request(ws, 1, "SendStreamingMessage", message_params(" ".join(words)))
        received = [json.loads(ws.recv(timeout=20)) for _ in range(4)]
    task_id = received[0]["params"]["result"]["task"]["id"]
    task = webcap_server.wait_for_state(key, task_id, {"TASK_STATE_COMPLETED"})
    assert len(task["artifacts"][0]["parts"]) == len(words)


def test_handshake_without_credentials_is_refused(webcap_server: LiveServer):
    with pytest.raises(InvalidStatus) as caught:
        _connect(webcap_server, None)
    assert caught.value.response.status_code == 403


def test_handshake_from_a_foreign_origin_is_refused(webcap_server: LiveServer, live_keys):
    with pytest.raises(InvalidStatus) as caught:
        _connect(webcap_server, live_keys["alice"], Origin="https://evil.example")
    assert caught.value.response.status_code == 403


def test_another_users_task_is_not_found(webcap_server: LiveServer, live_keys):
    task = webcap_server.rpc(live_keys["alice"], "SendMessage", message_params("mine"))["result"][
        "task"
    ]
    with _connect(webcap_server, live_keys["bob"]) as ws:
        _request(ws, 1, "SubscribeToTask", {"id": task["id"]})
        reply = json.loads(ws.recv(timeout=10))
    assert reply["error"]["code"] == -32001
