"""A worker SIGKILLed while http_request's POST is in flight (the downstream holds it): the
new worker never sends it again by default (the model reads "interrupted"), and sends it
once more with the same Idempotency-Key when WEBCAP_TOOLS_RETRY_WITH_KEY names the tool.

The assistant runs on the fake OpenAI server (tests/fakellm.py), the downstream is a real
HTTP server on 127.0.0.1 (tests/tools/downstream.py), both in this test process.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.cluster import FAST_RECOVERY, Cluster, running_cluster
from tests.factories import message_params
from tests.fakellm import FakeLLM, Text, ToolCalls
from tests.tools.downstream import Downstream

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeLLM]:
    with FakeLLM() as server:
        yield server


@pytest.fixture(scope="module")
def cluster(fake: FakeLLM) -> Iterator[Cluster]:
    """PostgreSQL, Redis, one web process, one worker, beat; the assistant on the fake model."""
    with running_cluster(
        webs=1,
        workers=1,
        WEBCAP_AGENT="assistant",
        WEBCAP_MODEL="openai/fake-model",
        WEBCAP_MODEL_API_BASE=fake.base_url,
        WEBCAP_MODEL_API_KEY="test-key",
        WEBCAP_MODEL_CONTEXT_TOKENS="100000",
        WEBCAP_TOOL_HTTP_ALLOWED_HOSTS="127.0.0.1",
        # The held POST must still be in flight when the worker is killed.
        WEBCAP_TOOL_HTTP_TIMEOUT="25",
        **FAST_RECOVERY,
    ) as running:
        yield running


@pytest.fixture(scope="module")
def key(cluster: Cluster) -> str:
    return cluster.create_key("alice")


@pytest.fixture
def downstream() -> Iterator[Downstream]:
    """Holds the first request until the test ends, answers the others at once."""
    server = Downstream(hold=1)
    yield server
    server.close()


def _api(cluster: Cluster, key: str, method: str, path: str) -> Any:
    response = httpx.request(
        method,
        f"{cluster.web_urls[0]}/api/{path}",
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return response.json()


def _wait_state(cluster: Cluster, key: str, task_id: str, state: str) -> dict[str, Any]:
    deadline = time.monotonic() + 45
    while True:
        task: dict[str, Any] = Cluster.rpc(cluster.web_urls[0], key, "GetTask", {"id": task_id})[
            "result"
        ]
        if task["status"]["state"] == state:
            return task
        assert time.monotonic() < deadline, task["status"]
        time.sleep(0.2)


def _post_killed_in_flight(
    cluster: Cluster, key: str, fake: FakeLLM, downstream: Downstream, **worker_env: str
) -> tuple[str, dict[str, Any]]:
    """Run a task whose approved POST the downstream holds; SIGKILL the worker while it waits
    and start a new one with worker_env. Return the task id and the call as it was sent."""
    post = {"url": downstream.url, "method": "POST", "body": "{}"}
    fake.script(ToolCalls([("c1", "http_request", post)]), Text("Done."))
    params = message_params("place the order", configuration={"returnImmediately": True})
    task_id = Cluster.rpc(cluster.web_urls[0], key, "SendMessage", params)["result"]["task"]["id"]
    _wait_state(cluster, key, task_id, "TASK_STATE_INPUT_REQUIRED")
    [call] = _api(cluster, key, "GET", f"tool-calls/?task={task_id}")["results"]
    _api(cluster, key, "POST", f"tool-calls/{call['id']}/approve/")

    downstream.wait_for(1)  # the POST arrived and gets no answer
    cluster.kill("worker0", signal.SIGKILL)
    env = cluster.env
    cluster.env = {**env, **worker_env}
    try:
        cluster.start_worker(0)
    finally:
        cluster.env = env
    _wait_state(cluster, key, task_id, "TASK_STATE_COMPLETED")
    return task_id, call


def _tool_result(fake: FakeLLM) -> dict[str, Any]:
    """What the model read back about the call, in its last request."""
    [message] = [m for m in fake.requests[-1]["messages"] if m["role"] == "tool"]
    result: dict[str, Any] = json.loads(message["content"])
    return result


def test_an_interrupted_post_is_sent_once_and_the_model_reads_why(
    cluster: Cluster, key: str, fake: FakeLLM, downstream: Downstream
):
    task_id, sent = _post_killed_in_flight(cluster, key, fake, downstream)

    [call] = _api(cluster, key, "GET", f"tool-calls/?task={task_id}")["results"]
    error = (
        "interrupted by a restart before it finished; not run again because it may have had effects"
    )
    assert (call["status"], call["attempts"], call["error"]) == ("error", 1, error)
    assert call["idempotency_key"] == sent["idempotency_key"]
    assert [(s.method, s.headers.get("idempotency-key")) for s in downstream.seen] == [
        ("POST", f'"{sent["idempotency_key"]}"')
    ]
    assert _tool_result(fake) == {"error": error}


def test_a_post_retried_with_its_key_is_sent_again_with_the_same_key(
    cluster: Cluster, key: str, fake: FakeLLM, downstream: Downstream
):
    task_id, sent = _post_killed_in_flight(
        cluster, key, fake, downstream, WEBCAP_TOOLS_RETRY_WITH_KEY="http_request"
    )

    [call] = _api(cluster, key, "GET", f"tool-calls/?task={task_id}")["results"]
    assert (call["status"], call["attempts"], call["result"]["status"]) == ("success", 2, 200)
    header = f'"{sent["idempotency_key"]}"'
    assert [(s.method, s.headers.get("idempotency-key")) for s in downstream.seen] == [
        ("POST", header),
        ("POST", header),
    ]
    assert _tool_result(fake)["result"]["status"] == 200
