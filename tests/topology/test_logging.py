"""A request followed into its job across processes through the JSON logs.

A production cluster (PostgreSQL, Redis, one web process, one Celery worker, beat) with
LOG_FORMAT=json: a message sent with an API key and ``X-Request-ID: test-req-123`` leaves a
record in the web process and records of its job in the worker process, all carrying that
request id and the same task id; no line any process wrote contains the API key.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.cluster import Cluster, running_cluster
from tests.factories import message_params

pytestmark = pytest.mark.live

REQUEST_ID = "test-req-123"


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with running_cluster(
        webs=1, workers=1, WEBCAP_AGENT="echo", LOG_FORMAT="json", LOG_LEVEL="INFO"
    ) as running:
        yield running


def _records(cluster: Cluster, name: str) -> list[dict[str, Any]]:
    """The JSON lines of one process's log (its other lines: Celery's start-up banner)."""
    text = (cluster.workdir / f"{name}.log").read_text(errors="replace")
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def _wait_for(cluster: Cluster, name: str, event: str, timeout: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for record in _records(cluster, name):
            if record["event"] == event and record.get("request_id") == REQUEST_ID:
                return record
        time.sleep(0.1)
    raise AssertionError(f"no {event} record of {REQUEST_ID} in {name}.log")


def test_the_request_id_and_task_id_follow_the_message_into_the_worker(cluster):
    key = cluster.create_key("alice")
    # The shell prints its auto-import note first; the id is the last line.
    user_id = cluster.manage(
        "shell",
        "-c",
        "from accounts.models import User; print(User.objects.get(username='alice').pk)",
    ).splitlines()[-1]
    response = httpx.post(
        f"{cluster.web_urls[0]}/a2a/jsonrpc",
        json={
            "jsonrpc": "2.0",
            "id": 1,
            "method": "SendMessage",
            "params": message_params("follow me", configuration={"returnImmediately": False}),
        },
        headers={
            "Authorization": f"Bearer {key}",
            "A2A-Version": "1.0",
            "X-Request-ID": REQUEST_ID,
        },
        timeout=30,
    )
    assert response.status_code == 200
    assert response.headers["X-Request-ID"] == REQUEST_ID
    task = response.json()["result"]["task"]
    assert task["status"]["state"] == "TASK_STATE_COMPLETED"

    created = _wait_for(
        cluster, "web0", f"Task {task['id']} created in context {task['contextId']}"
    )
    assert {
        k: created[k] for k in ("level", "logger", "request_id", "user_id", "task_id", "context_id")
    } == {
        "level": "info",
        "logger": "a2a.services.tasks",
        "request_id": REQUEST_ID,
        "user_id": user_id,
        "task_id": task["id"],
        "context_id": task["contextId"],
    }
    finished = _wait_for(cluster, "web0", "request_finished")
    assert (finished["code"], finished["request"], finished["task_id"]) == (
        200,
        "POST /a2a/jsonrpc",
        task["id"],
    )

    started = _wait_for(cluster, "worker0", "job_started")
    done = _wait_for(cluster, "worker0", "job_finished")
    for record in (started, done):
        assert {
            k: record[k]
            for k in ("logger", "request_id", "user_id", "task_id", "context_id", "job")
        } == {
            "logger": "common.logging",
            "request_id": REQUEST_ID,
            "user_id": user_id,
            "task_id": task["id"],
            "context_id": task["contextId"],
            "job": "a2a.jobs.task_run_job",
        }
    assert started["job_id"] == done["job_id"]
    assert done["state"] == "SUCCESS"

    logs = list(cluster.workdir.glob("*.log"))
    assert {path.name for path in logs} >= {"web0.log", "worker0.log", "beat.log"}
    for path in logs:
        assert key not in path.read_text(errors="replace"), path.name
