"""Against a real server: webhooks that fail at first, and streams resumed with Last-Event-ID."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.factories import message_params
from tests.live.server import LiveServer
from tests.live.sse import sse_events, stream_request
from tests.webhook import WebhookReceiver

pytestmark = pytest.mark.live

WORDS = [f"w{i}" for i in range(30)]


def test_webhook_failing_twice_gets_every_event_in_order_once(webcap_server: LiveServer, live_keys):
    receiver = WebhookReceiver(fail_first=2)
    try:
        params = message_params(
            "one two three",
            configuration={
                "taskPushNotificationConfig": {
                    "url": receiver.url,
                    "token": "tok",
                    "authentication": {"scheme": "Bearer", "credentials": "cred"},
                }
            },
        )
        task = webcap_server.rpc(live_keys["alice"], "SendMessage", params)["result"]["task"]
        received = receiver.wait_for(6, timeout=30)
        assert receiver.attempts == 8  # the first delivery failed twice, then six went through
        bodies = [r.body for r in received]
        assert [next(iter(b)) for b in bodies] == [
            "task",
            "statusUpdate",
            "artifactUpdate",
            "artifactUpdate",
            "artifactUpdate",
            "statusUpdate",
        ]
        assert [b["artifactUpdate"]["artifact"]["parts"][0]["text"] for b in bodies[2:5]] == [
            "one",
            " two",
            " three",
        ]
        assert bodies[-1]["statusUpdate"]["status"]["state"] == "TASK_STATE_COMPLETED"
        assert {r.body.get("task", {}).get("id") for r in received[:1]} == {task["id"]}
        assert all(r.headers["authorization"] == "Bearer cred" for r in received)
        assert all(r.headers["x-a2a-notification-token"] == "tok" for r in received)
        assert all(r.headers["content-type"] == "application/a2a+json" for r in received)
    finally:
        receiver.close()


def test_unsafe_webhooks_are_refused_by_the_live_server(webcap_server: LiveServer, live_keys):
    key = live_keys["alice"]
    task = webcap_server.rpc(key, "SendMessage", message_params("x"))["result"]["task"]
    for url in ("http://169.254.169.254/latest/meta-data", "http://[::ffff:127.0.0.1]/hook"):
        body = webcap_server.rpc(
            key, "CreateTaskPushNotificationConfig", {"taskId": task["id"], "url": url}
        )
        assert body["error"]["code"] == -32602, url


def _rest_subscribe(url: str, key: str, task_id: str, last_event_id: str) -> Any:
    return httpx.stream(
        "GET",
        f"{url}/a2a/rest/tasks/{task_id}:subscribe",
        headers={
            "Authorization": f"Bearer {key}",
            "A2A-Version": "1.0",
            "Last-Event-ID": last_event_id,
        },
        timeout=30,
    )


def _jsonrpc_subscribe(url: str, key: str, task_id: str, last_event_id: str) -> Any:
    return httpx.stream(
        "POST",
        f"{url}/a2a/jsonrpc",
        json={"jsonrpc": "2.0", "id": 1, "method": "SubscribeToTask", "params": {"id": task_id}},
        headers={
            "Authorization": f"Bearer {key}",
            "A2A-Version": "1.0",
            "Last-Event-ID": last_event_id,
        },
        timeout=30,
    )


@pytest.mark.parametrize("binding", ["jsonrpc", "rest"])
def test_stream_cut_off_and_resumed_gets_exactly_the_missing_events(
    webcap_server: LiveServer, live_keys, binding
):
    key = live_keys["alice"]
    with stream_request(
        webcap_server.url, key, "SendStreamingMessage", message_params(" ".join(WORDS))
    ) as response:
        first = []
        for event in sse_events(response):
            first.append(event)
            if len(first) == 5:
                break  # the connection drops here, mid-task
    task_id = first[0]["data"]["result"]["task"]["id"]
    subscribe = _jsonrpc_subscribe if binding == "jsonrpc" else _rest_subscribe
    with subscribe(webcap_server.url, key, task_id, first[-1]["id"]) as response:
        assert response.headers["content-type"] == "text/event-stream"
        rest = list(sse_events(response))
    seen = [int(e["id"]) for e in first + rest]
    total = len(WORDS) + 3  # task, working, one chunk per word, completed
    assert seen == list(range(1, total + 1))  # every event once, in order
    last = rest[-1]["data"]
    payload = last["result"] if binding == "jsonrpc" else last
    assert payload["statusUpdate"]["status"]["state"] == "TASK_STATE_COMPLETED"
