"""Redis is the broker: killed with jobs queued and started again, it still holds every job
(append-only file, fsync on every write) and every task runs to completion."""

from __future__ import annotations

import json
import signal
import time
from typing import Any

import pytest
import redis

from tests.cluster import Cluster
from tests.factories import message_params

pytestmark = pytest.mark.live


def _queued_runs(url: str) -> set[str]:
    """The task ids of the task_run_job messages waiting in the broker's queue."""
    runs = set()
    for raw in redis.Redis.from_url(url).lrange("celery", 0, -1):
        headers = json.loads(raw)["headers"]
        if headers["task"] == "a2a.jobs.task_run_job":
            runs.add(headers["argsrepr"].strip("(),'"))
    return runs


def _wait_completed(url: str, key: str, task_ids: list[str], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    states: dict[str, Any] = {}
    while time.monotonic() < deadline:
        for task_id in task_ids:
            body = Cluster.rpc(url, key, "GetTask", {"id": task_id})
            states[task_id] = body.get("result", {}).get("status", {}).get("state")
        if all(state == "TASK_STATE_COMPLETED" for state in states.values()):
            return
        time.sleep(0.5)
    raise AssertionError(f"not all completed: {states}")


def test_queued_jobs_survive_a_killed_redis(cluster: Cluster, cluster_key: str):
    web_a, web_b = cluster.web_urls
    # No worker consumes while the jobs are queued.
    cluster.kill("worker0", signal.SIGTERM)
    params = message_params("survive", configuration={"returnImmediately": True})
    task_ids = [Cluster.rpc(web_a, cluster_key, "SendMessage", params)["result"]["task"]["id"]]
    task_ids += [
        Cluster.rpc(web_b, cluster_key, "SendMessage", params)["result"]["task"]["id"]
        for _ in range(4)
    ]
    assert _queued_runs(cluster.redis.url) >= set(task_ids)

    cluster.redis.stop(signal.SIGKILL)
    cluster.redis.start()  # the same port and append-only file
    assert _queued_runs(cluster.redis.url) >= set(task_ids)

    cluster.start_worker(0)
    _wait_completed(web_b, cluster_key, task_ids)
