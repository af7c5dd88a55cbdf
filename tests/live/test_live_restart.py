"""The embedded mode survives restarts: the database, not the in-memory broker, is the truth."""

from __future__ import annotations

import signal
import time

import pytest

from tests.factories import message_params
from tests.live.server import LiveServer, free_port

pytestmark = pytest.mark.live

WORDS = [f"w{i}" for i in range(12)]


@pytest.fixture
def slow_server(tmp_path):
    server = LiveServer(tmp_path, WEBCAP_AGENT="echo", WEBCAP_ECHO_DELAY_MS="150")
    server.start()
    yield server
    server.stop(signal.SIGKILL)


def _start_working_task(server: LiveServer, key: str) -> str:
    params = message_params(" ".join(WORDS), configuration={"returnImmediately": True})
    task_id: str = server.rpc(key, "SendMessage", params)["result"]["task"]["id"]
    server.wait_for_state(key, task_id, {"TASK_STATE_WORKING"})
    return task_id


def _stored_state(server: LiveServer, task_id: str) -> str:
    code = f"from a2a.models import Task; print(Task.objects.get(pk='{task_id}').state)"
    return server.manage("shell", "-c", code).strip().splitlines()[-1]


def test_task_killed_mid_run_is_resumed_after_restart(slow_server: LiveServer):
    key = slow_server.create_key("alice")
    task_id = _start_working_task(slow_server, key)
    slow_server.stop(signal.SIGKILL)
    assert _stored_state(slow_server, task_id) == "working"
    slow_server.port = free_port()
    slow_server.url = f"http://127.0.0.1:{slow_server.port}"
    slow_server.start()
    task = slow_server.wait_for_state(key, task_id, {"TASK_STATE_COMPLETED"}, timeout=30)
    assert "".join(p["text"] for p in task["artifacts"][0]["parts"]) == " ".join(WORDS)


def test_sigterm_lets_running_jobs_finish(slow_server: LiveServer):
    key = slow_server.create_key("alice")
    task_id = _start_working_task(slow_server, key)
    started = time.monotonic()
    slow_server.stop(signal.SIGTERM, timeout=30)
    assert slow_server.process is not None
    assert slow_server.process.returncode is not None
    assert time.monotonic() - started < 25
    assert _stored_state(slow_server, task_id) == "completed"
