"""Running a model turn's tool calls: each call's own deadline, also in parallel.

The model is the fake OpenAI server on 127.0.0.1 (tests/fakellm.py); it asks for two calls
in one turn. The sandboxed call is a real child process, killed at its deadline; the calls in
the worker's thread are real threads. Each step of the task runs as the worker runs it.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
from prometheus_client import REGISTRY as METRICS

from a2a import jobs
from a2a.models import Task, TaskState
from tests.factories import make_user, send
from tests.fakellm import Text, ToolCalls
from tests.tools import sandboxed
from tools.models import ToolCall, ToolCallStatus
from tools.registry import current_call, tool
from tools.sandbox import Sandbox

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("restored_registry", "manual_jobs"),
]

# Holds the stuck tool's thread until the test ends.
RELEASE = threading.Event()


@pytest.fixture
def tools(restored_registry: None) -> Any:
    """A sandboxed nap (1 s), a steady tool (1.5 s of its 5), a stuck and a patient one (0.3 s)."""
    RELEASE.clear()
    tool(description="Sleep.", name="nap", timeout=1.0, sandbox=Sandbox())(sandboxed.nap)

    @tool(description="Take a while, then answer.", timeout=5.0)
    def steady(label: str) -> str:
        time.sleep(1.5)
        return f"done {label}"

    @tool(description="Never look at the clock.", timeout=0.3)
    def stuck(label: str) -> str:
        RELEASE.wait(timeout=10)
        return label

    @tool(description="Stop when told to.", timeout=0.3)
    def patient(label: str) -> str:
        call = current_call()
        while call is not None and not call.stopped():
            time.sleep(0.02)
        return label

    yield
    RELEASE.set()


def _step(task_id: str) -> None:
    jobs.task_run_job.apply(args=(task_id,))


def _turn(fake: Any, *calls: tuple[str, str, dict[str, Any]]) -> str:
    """A task whose model asks for calls in one turn, then answers; the calls are scheduled."""
    fake.script(ToolCalls(list(calls)), Text("Done."))
    task_id = str(send(make_user(), "do two things").task_id)
    _step(task_id)
    return task_id


def _abandoned(name: str) -> float:
    return METRICS.get_sample_value("webcap_tool_threads_abandoned_total", {"tool": name}) or 0.0


@pytest.mark.usefixtures("tools")
def test_a_call_past_its_deadline_is_stopped_while_a_parallel_call_finishes(fake):
    task_id = _turn(fake, ("n", "nap", {"seconds": 10}), ("s", "steady", {"label": "a"}))

    started = time.monotonic()
    _step(task_id)  # runs both calls
    # The steady call needs 1.5 s, past the nap's 1 s limit: the calls ran side by side.
    assert time.monotonic() - started < 3.0

    calls = {c.llm_call_id: c for c in ToolCall.objects.filter(task_id=task_id)}
    nap, steady = calls["n"], calls["s"]
    assert (nap.status, nap.error) == (ToolCallStatus.ERROR, "stopped after 1 s (limit 1 s)")
    assert nap.finished_at is not None
    assert nap.started_at is not None
    assert (nap.finished_at - nap.started_at).total_seconds() < 2.0
    assert (steady.status, steady.result) == (ToolCallStatus.SUCCESS, "done a")

    _step(task_id)  # the model reads both outcomes and answers
    assert Task.objects.get(pk=task_id).state == TaskState.COMPLETED
    results = {
        m["tool_call_id"]: m["content"]
        for m in fake.requests[-1]["messages"]
        if m["role"] == "tool"
    }
    assert json.loads(results["n"]) == {"error": "stopped after 1 s (limit 1 s)"}
    assert "done a" in results["s"]

    # The worker is healthy: the next task on it runs its tool and completes.
    task_id = _turn(fake, ("s2", "steady", {"label": "b"}))
    _step(task_id)
    _step(task_id)
    assert Task.objects.get(pk=task_id).state == TaskState.COMPLETED


@pytest.mark.usefixtures("tools")
def test_a_thread_that_does_not_stop_is_abandoned_and_counted(fake, caplog):
    before = (_abandoned("stuck"), _abandoned("patient"))
    task_id = _turn(fake, ("x", "stuck", {"label": "x"}), ("p", "patient", {"label": "p"}))

    started = time.monotonic()
    _step(task_id)
    assert time.monotonic() - started < 2.0  # the stuck thread is not waited for

    calls = {c.llm_call_id: c for c in ToolCall.objects.filter(task_id=task_id)}
    for llm_id in ("x", "p"):
        assert (calls[llm_id].status, calls[llm_id].error) == (
            ToolCallStatus.ERROR,
            "timed out after 0.3 s",
        )
    # Only the one that ignored its stop is left running.
    assert (_abandoned("stuck"), _abandoned("patient")) == (before[0] + 1, before[1])
    assert f"Tool call {calls['x'].pk} (stuck) ran past its deadline and did not stop" in (
        caplog.text
    )

    RELEASE.set()  # its late result is ignored: the call is no longer executing
    _step(task_id)
    assert Task.objects.get(pk=task_id).state == TaskState.COMPLETED
    assert ToolCall.objects.get(pk=calls["x"].pk).error == "timed out after 0.3 s"
