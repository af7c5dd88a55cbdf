"""PostgreSQL crashes under a running webcap: clients get a prompt 503 with Retry-After, and
after PostgreSQL restarts on the same data folder every committed task and event is there.

One live webcap process (tests/live/server.py) on a PostgreSQL of its own (not the shared
topology cluster: stopping its database would break the other tests of this folder).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.factories import message_params
from tests.live.server import LiveServer
from tests.postgres_server import PostgresServer, running_postgres

pytestmark = pytest.mark.live

# Each request made while the database is down must be answered within this many seconds
# (the pool waits DATABASE_POOL_TIMEOUT, a new connection DATABASE_CONNECT_TIMEOUT).
ANSWER_WITHIN = 15.0
COUNTS = (
    "from a2a.models import Task, TaskEvent; print(Task.objects.count(), TaskEvent.objects.count())"
)


@pytest.fixture
def postgres() -> Iterator[PostgresServer]:
    with running_postgres(prefix="webcap-pgout-") as server:
        yield server


@pytest.fixture
def webcap(postgres: PostgresServer) -> Iterator[LiveServer]:
    workdir = postgres.workdir / "web"
    workdir.mkdir()
    server = LiveServer(workdir, DATABASE_URL=postgres.url, WEBCAP_AGENT="echo")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _counts(server: LiveServer) -> tuple[int, int]:
    tasks, events = server.manage("shell", "-v", "0", "-c", COUNTS).split()
    return int(tasks), int(events)


def _send(server: LiveServer, key: str, text: str) -> Any:
    """SendMessage and return its task, which the echo agent has completed."""
    body = server.rpc(key, "SendMessage", message_params(text))
    task = body["result"]["task"]
    return server.wait_for_state(key, task["id"], {"TASK_STATE_COMPLETED"})


def _timed(request: httpx.Request) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    with httpx.Client(timeout=ANSWER_WITHIN + 5) as client:
        response = client.send(request)
    return response, time.monotonic() - started


def _wait_healthy(server: LiveServer, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if httpx.get(f"{server.url}/health", timeout=ANSWER_WITHIN).status_code == 200:
            return
        time.sleep(0.2)
    raise AssertionError(f"webcap still unhealthy {timeout} s after PostgreSQL restarted")


def test_a_crashed_database_is_a_503_and_loses_nothing(
    postgres: PostgresServer, webcap: LiveServer
) -> None:
    key = webcap.create_key("alice")
    done = [_send(webcap, key, f"before the outage {n}")["id"] for n in range(3)]
    tasks, events = _counts(webcap)
    assert tasks == 3
    assert events >= 3 * 3  # submitted, working, completed (and the echoed artifact)
    headers = {"Authorization": f"Bearer {key}", "A2A-Version": "1.0"}

    postgres.stop(mode="immediate")  # no checkpoint: a crash, recovered from the WAL
    send = httpx.Request(
        "POST",
        f"{webcap.url}/a2a/jsonrpc",
        json={"jsonrpc": "2.0", "id": 9, "method": "SendMessage", "params": message_params()},
        headers=headers,
    )
    listing = httpx.Request("GET", f"{webcap.url}/a2a/rest/tasks", headers=headers)
    # Both at once: each waits for the database up to its timeout, not one after the other.
    with ThreadPoolExecutor(max_workers=2) as pool:
        (sent, sent_took), (listed, listed_took) = pool.map(_timed, (send, listing))

    assert sent_took < ANSWER_WITHIN, sent_took
    assert sent.status_code == 503, sent.text
    assert int(sent.headers["Retry-After"]) >= 1
    assert sent.json()["id"] == 9
    assert sent.json()["error"]["code"] == -32603
    assert "database is unavailable" in sent.json()["error"]["message"]

    assert listed_took < ANSWER_WITHIN, listed_took
    assert listed.status_code == 503, listed.text
    assert int(listed.headers["Retry-After"]) >= 1
    assert listed.json()["error"]["status"] == "UNAVAILABLE"
    assert "database is unavailable" in listed.json()["error"]["message"]

    postgres.start()  # the same data folder and port
    _wait_healthy(webcap)
    assert _counts(webcap) == (tasks, events)
    listed = webcap.rpc(key, "ListTasks", {})["result"]["tasks"]
    assert {task["id"] for task in listed} == set(done)
    assert _send(webcap, key, "after the outage")["status"]["state"] == "TASK_STATE_COMPLETED"
    assert "Internal Server Error" not in webcap.log()
    assert "Traceback" not in webcap.log()
