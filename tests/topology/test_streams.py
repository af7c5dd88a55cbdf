"""Streams across processes: the web process that serves a stream is not the one that took
the message, and neither ran the work (a Celery worker did). Events travel through Redis and
the event log in PostgreSQL; none may be lost, repeated or reordered, even when the web
process serving the stream is killed.
"""

from __future__ import annotations

import signal
from typing import Any

import httpx
import pytest

from tests.cluster import Cluster
from tests.factories import message_params
from tests.live.sse import sse_events

pytestmark = pytest.mark.live

WORDS = [f"w{i}" for i in range(60)]


def _start(url: str, key: str) -> str:
    params = message_params(" ".join(WORDS), configuration={"returnImmediately": True})
    body = Cluster.rpc(url, key, "SendMessage", params)
    task_id: str = body["result"]["task"]["id"]
    return task_id


def _subscribe(url: str, key: str, task_id: str, last_event_id: int | None = None) -> Any:
    headers = {
        "Authorization": f"Bearer {key}",
        "A2A-Version": "1.0",
        "Accept": "text/event-stream",
    }
    if last_event_id is not None:
        headers["Last-Event-ID"] = str(last_event_id)
    return httpx.stream(
        "POST",
        f"{url}/a2a/jsonrpc",
        json={"jsonrpc": "2.0", "id": 1, "method": "SubscribeToTask", "params": {"id": task_id}},
        headers=headers,
        timeout=httpx.Timeout(30, read=30),
    )


def _text(events: list[dict[str, Any]], snapshot: dict[str, Any] | None) -> str:
    parts = [p["text"] for a in (snapshot or {}).get("artifacts", []) for p in a["parts"]]
    for event in events:
        update = event["data"]["result"].get("artifactUpdate")
        if update:
            parts.extend(p["text"] for p in update["artifact"]["parts"])
    return "".join(parts)


def test_a_stream_on_web_b_of_a_message_sent_to_web_a(cluster: Cluster, cluster_key: str):
    web_a, web_b = cluster.web_urls
    task_id = _start(web_a, cluster_key)
    with _subscribe(web_b, cluster_key, task_id) as response:
        assert response.status_code == 200
        events = list(sse_events(response))
    first = events[0]["data"]["result"]
    assert list(first) == ["task"]  # the snapshot first
    seqs = [int(event["id"]) for event in events]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # in order, no gaps, no repeats
    last = events[-1]["data"]["result"]["statusUpdate"]["status"]["state"]
    assert last == "TASK_STATE_COMPLETED"
    assert _text(events[1:], first["task"]) == " ".join(WORDS)


def test_a_killed_web_process_loses_no_event(cluster: Cluster, cluster_key: str):
    web_a, web_b = cluster.web_urls
    task_id = _start(web_a, cluster_key)
    received: list[dict[str, Any]] = []
    with _subscribe(web_a, cluster_key, task_id) as response:
        for event in sse_events(response):
            received.append(event)
            if len(received) == 6:
                # SIGKILL the web process serving this stream, mid-stream.
                cluster.kill("web0", signal.SIGKILL)
                break
    last_seen = int(received[-1]["id"])
    with _subscribe(web_b, cluster_key, task_id, last_event_id=last_seen) as response:
        assert response.status_code == 200
        rest = list(sse_events(response))
    seqs = [int(event["id"]) for event in received + rest]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # every event once, in order
    final = rest[-1]["data"]["result"]["statusUpdate"]["status"]["state"]
    assert final == "TASK_STATE_COMPLETED"
    assert _text(received[1:] + rest, received[0]["data"]["result"]["task"]) == " ".join(WORDS)
    # Bring web A back for the tests that follow.
    cluster.start_web(0)
    cluster.wait_healthy(web_a)
