"""Streams across processes: the web process that serves a stream is not the one that took
the message, and neither ran the work (a Celery worker did). Events travel through Redis and
the event log in PostgreSQL; none may be lost, repeated or reordered, even when the web
process serving the stream is killed.

The same cluster also shows a revoked API key refused by every web process within
WEBCAP_CREDENTIAL_CACHE_SECONDS, although each keeps the keys it looked up.
"""

from __future__ import annotations

import signal
import time
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


def _list_status(url: str, key: str) -> int:
    return httpx.post(
        f"{url}/a2a/jsonrpc",
        json={"jsonrpc": "2.0", "id": 1, "method": "ListTasks", "params": {}},
        headers={"Authorization": f"Bearer {key}", "A2A-Version": "1.0"},
        timeout=30,
    ).status_code


def test_a_revoked_key_is_refused_by_every_web_process_within_the_cache_time(
    cluster: Cluster, cluster_key: str
):
    web_a, web_b = cluster.web_urls
    doomed = cluster.create_key("alice")
    # Both web processes have looked the key up, and keep it for up to 5 s.
    assert _list_status(web_a, doomed) == _list_status(web_b, doomed) == 200
    keys = httpx.get(
        f"{web_a}/api/keys/", headers={"Authorization": f"Bearer {cluster_key}"}, timeout=30
    ).json()["results"]
    (doomed_id,) = [k["id"] for k in keys if doomed.startswith(k["prefix"])]
    revoked = httpx.delete(
        f"{web_a}/api/keys/{doomed_id}/",
        headers={"Authorization": f"Bearer {cluster_key}"},
        timeout=30,
    )
    assert revoked.status_code == 204
    revoked_at = time.monotonic()
    # The process that revoked it forgets it at once.
    assert _list_status(web_a, doomed) == 401
    # The other one within WEBCAP_CREDENTIAL_CACHE_SECONDS (5 s; 2 s of slack for the poll).
    while _list_status(web_b, doomed) != 401:
        assert time.monotonic() - revoked_at < 7, "web B still accepts the revoked key"
        time.sleep(0.2)
    assert _list_status(web_a, cluster_key) == _list_status(web_b, cluster_key) == 200


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
