"""A worker SIGKILLed in the middle of a job step: another worker runs the step again (the
orphan sweep finds the task once its run lease runs out) and the task completes with its
whole answer, once."""

from __future__ import annotations

import signal
import time
from typing import Any

import pytest

from tests.cluster import Cluster
from tests.factories import message_params

pytestmark = pytest.mark.live

WORDS = [f"v{i}" for i in range(150)]


def _task(cluster: Cluster, key: str, task_id: str) -> dict[str, Any]:
    body = Cluster.rpc(cluster.web_urls[1], key, "GetTask", {"id": task_id})
    task: dict[str, Any] = body["result"]
    return task


def test_a_step_killed_mid_run_runs_again_and_completes(cluster: Cluster, cluster_key: str):
    params = message_params(" ".join(WORDS), configuration={"returnImmediately": True})
    body = Cluster.rpc(cluster.web_urls[0], cluster_key, "SendMessage", params)
    task_id = body["result"]["task"]["id"]
    deadline = time.monotonic() + 30
    while not _task(cluster, cluster_key, task_id).get("artifacts"):
        assert time.monotonic() < deadline, "the task never started writing"
        time.sleep(0.2)

    cluster.kill("worker0", signal.SIGKILL)
    assert _task(cluster, cluster_key, task_id)["status"]["state"] == "TASK_STATE_WORKING"
    cluster.start_worker(0)

    deadline = time.monotonic() + 90
    while (task := _task(cluster, cluster_key, task_id))["status"]["state"] != (
        "TASK_STATE_COMPLETED"
    ):
        assert time.monotonic() < deadline, task["status"]
        time.sleep(0.5)
    [artifact] = task["artifacts"]
    assert "".join(part["text"] for part in artifact["parts"]) == " ".join(WORDS)
