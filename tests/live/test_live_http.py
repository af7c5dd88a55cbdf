"""JSON-RPC and SSE against a real server process: streaming, disconnects, limits."""

from __future__ import annotations

import httpx
import pytest

from tests.factories import message_params
from tests.live.server import LiveServer
from tests.live.sse import sse_events, stream_request

pytestmark = pytest.mark.live

WORDS = [f"w{i}" for i in range(40)]


def _text(task) -> str:
    return "".join(part["text"] for part in task["artifacts"][0]["parts"])


def test_sse_stream_is_ordered_task_first_terminal_last(webcap_server: LiveServer, live_keys):
    with stream_request(
        webcap_server.url,
        live_keys["alice"],
        "SendStreamingMessage",
        message_params("alpha beta gamma"),
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/event-stream"
        assert response.headers["x-accel-buffering"] == "no"
        events = list(sse_events(response))
    assert [int(e["id"]) for e in events] == list(range(1, 7))
    results = [e["data"]["result"] for e in events]
    assert "task" in results[0]
    assert results[1]["statusUpdate"]["status"]["state"] == "TASK_STATE_WORKING"
    chunks = [r["artifactUpdate"] for r in results[2:5]]
    assert [c["artifact"]["parts"][0]["text"] for c in chunks] == ["alpha", " beta", " gamma"]
    assert [(c["append"], c["lastChunk"]) for c in chunks] == [
        (False, False),
        (True, False),
        (True, True),
    ]
    assert results[5]["statusUpdate"]["status"]["state"] == "TASK_STATE_COMPLETED"


def test_killed_sse_client_loses_nothing(webcap_server: LiveServer, live_keys):
    key = live_keys["alice"]
    with stream_request(
        webcap_server.url, key, "SendStreamingMessage", message_params(" ".join(WORDS))
    ) as response:
        seen = []
        for event in sse_events(response):
            seen.append(event)
            if len(seen) == 4:
                break  # leaving the block drops the connection mid-task
    task_id = seen[0]["data"]["result"]["task"]["id"]
    task = webcap_server.wait_for_state(key, task_id, {"TASK_STATE_COMPLETED"})
    parts = task["artifacts"][0]["parts"]
    assert len(parts) == len(WORDS)
    assert _text(task) == " ".join(WORDS)


def test_cancel_mid_stream_ends_the_stream_with_canceled(webcap_server: LiveServer, live_keys):
    key = live_keys["alice"]
    with stream_request(
        webcap_server.url, key, "SendStreamingMessage", message_params(" ".join(WORDS))
    ) as response:
        events = []
        for event in sse_events(response):
            events.append(event)
            if len(events) == 3:
                task_id = events[0]["data"]["result"]["task"]["id"]
                canceled = webcap_server.rpc(key, "CancelTask", {"id": task_id})["result"]
                assert canceled["status"]["state"] == "TASK_STATE_CANCELED"
    last = events[-1]["data"]["result"]["statusUpdate"]["status"]
    assert last["state"] == "TASK_STATE_CANCELED"
    task = webcap_server.rpc(key, "GetTask", {"id": task_id})["result"]
    assert task["status"]["state"] == "TASK_STATE_CANCELED"
    assert len(task["artifacts"][0]["parts"]) < len(WORDS)
    again = webcap_server.rpc(key, "CancelTask", {"id": task_id})
    assert again["error"]["code"] == -32002


def test_oversized_body_is_413_and_stores_nothing(webcap_server: LiveServer, live_keys):
    key = live_keys["bob"]
    before = httpx.get(f"{webcap_server.url}/health").json()["counts"]["tasks"]["total"]
    response = httpx.post(
        f"{webcap_server.url}/a2a/jsonrpc",
        content=b'{"jsonrpc":"2.0","id":1,"method":"SendMessage","params":{"x":"'
        + b"a" * (13 * 1024 * 1024)
        + b'"}}',
        headers={
            "Authorization": f"Bearer {key}",
            "A2A-Version": "1.0",
            "Content-Type": "application/json",
        },
        timeout=30,
    )
    assert response.status_code == 413
    error = response.json()["error"]
    assert (error["code"], error["data"][0]["reason"]) == (-32600, "PAYLOAD_TOO_LARGE")
    assert httpx.get(f"{webcap_server.url}/health").json()["counts"]["tasks"]["total"] == before


def test_card_and_health_are_served(webcap_server: LiveServer):
    card = httpx.get(f"{webcap_server.url}/.well-known/agent-card.json").json()
    assert card["supportedInterfaces"][0]["url"] == f"{webcap_server.url}/a2a/jsonrpc"
    assert httpx.get(f"{webcap_server.url}/health").json()["mode"] == "embedded"


def test_unauthenticated_call_is_401(webcap_server: LiveServer):
    response = httpx.post(
        f"{webcap_server.url}/a2a/jsonrpc",
        json={"jsonrpc": "2.0", "id": 1, "method": "GetTask", "params": {"id": "x"}},
        headers={"A2A-Version": "1.0"},
    )
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="webcap"'
