"""The assistant through the real litellm path, against a fake OpenAI server on 127.0.0.1.

The model is faked only at its HTTP edge (tests/fakellm.py): litellm and the OpenAI SDK
build the requests, parse the streams and map the errors as they do in production.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from a2a import jobs
from a2a.models import Task, TaskState
from a2a.services.tasks import tasks_requeue_unfinished
from tests.factories import make_user, rpc_send_task, send, task_answer
from tests.fakellm import Error, Hang, Text, ToolCalls
from tools import registry
from tools.models import LLMCall, ToolCall, ToolCallStatus
from tools.registry import tool

# The management API takes JSON bodies only; a POST without a body sends an empty one.
JSON = "application/json"

pytestmark = pytest.mark.django_db(transaction=True)


def _tool_messages(request: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in request["messages"] if m["role"] == "tool"]


async def test_a_two_tool_plan_then_an_answer(rpc, api_key, fake):
    fake.script(
        ToolCalls([("call_a", "calculator", {"expression": "6*7"})], text="Let me compute."),
        ToolCalls([("call_b", "echo", {"text": "42"})]),
        Text("The answer is 42."),
    )
    task = await rpc_send_task(rpc, api_key, "compute then echo")
    assert task["status"]["state"] == "TASK_STATE_COMPLETED"
    assert [a["artifactId"] for a in task["artifacts"]] == ["response-1", "response-3"]
    assert task_answer(task) == "The answer is 42."
    assert "".join(p["text"] for p in task["artifacts"][0]["parts"]) == "Let me compute."
    first, second, third = fake.requests
    assert first["model"] == "fake-model"
    assert first["messages"][0]["role"] == "system"
    assert first["messages"][-1] == {"role": "user", "content": "compute then echo"}
    assert {t["function"]["name"] for t in first["tools"]} == {
        "calculator",
        "current_time",
        "echo",
        "read_file",
        "http_request",
    }
    assert second["messages"][-2]["tool_calls"][0]["id"] == "call_a"
    assert _tool_messages(second) == [
        {"role": "tool", "tool_call_id": "call_a", "content": '{"result": 42}'}
    ]
    assert _tool_messages(third)[-1] == {
        "role": "tool",
        "tool_call_id": "call_b",
        "content": '{"result": "42"}',
    }
    assert fake.headers[0]["authorization"] == "Bearer test-key"
    calls = [c async for c in LLMCall.objects.filter(task_id=task["id"]).order_by("id")]
    assert [(c.model, c.outcome, c.attempts) for c in calls] == [("openai/fake-model", "ok", 1)] * 3
    assert all(c.prompt_tokens > 0 and c.completion_tokens > 0 for c in calls)


async def test_parallel_calls_run_together(rpc, api_key, fake):
    fake.script(
        ToolCalls(
            [
                ("call_1", "calculator", {"expression": "1+1"}),
                ("call_2", "current_time", {}),
                ("call_3", "nonexistent", {}),
                ("call_4", "calculator", "{not json"),
                ("call_5", "calculator", {"wrong": 1}),
            ]
        ),
        Text("Done."),
    )
    task = await rpc_send_task(rpc, api_key, "several things")
    calls = [c async for c in ToolCall.objects.filter(task_id=task["id"]).order_by("position")]
    assert [(c.tool, c.status) for c in calls] == [
        ("calculator", ToolCallStatus.SUCCESS),
        ("current_time", ToolCallStatus.SUCCESS),
        ("nonexistent", ToolCallStatus.ERROR),
        ("calculator", ToolCallStatus.ERROR),
        ("calculator", ToolCallStatus.ERROR),
    ]
    results = {
        m["tool_call_id"]: json.loads(m["content"]) for m in _tool_messages(fake.requests[1])
    }
    assert results["call_1"] == {"result": 2}
    assert results["call_3"] == {"error": "unknown tool 'nonexistent'"}
    assert results["call_4"] == {"error": "arguments are not valid JSON"}
    assert results["call_5"]["error"].startswith("invalid arguments: expression: Field required")
    raw = fake.requests[1]["messages"][-6]["tool_calls"][3]["function"]["arguments"]
    assert raw == "{not json"  # the model sees its own arguments back as it sent them
    assert task_answer(task) == "Done."


async def test_rate_limit_then_success(rpc, api_key, fake):
    fake.script(Error(429, retry_after=0.05), Text("Fine."))
    task = await rpc_send_task(rpc, api_key, "hello")
    assert task_answer(task) == "Fine."
    call = await LLMCall.objects.aget(task_id=task["id"])
    assert (call.attempts, call.outcome) == (2, "ok")
    assert len(fake.requests) == 2


async def test_server_errors_fail_the_task_clearly_and_open_the_circuit(
    rpc, api_key, fake, settings
):
    settings.WEBCAP_MODEL_BREAKER_THRESHOLD = 1
    fake.script(Error(500), Error(500), Error(500))
    task = await rpc_send_task(rpc, api_key, "hello")
    assert task["status"]["state"] == "TASK_STATE_FAILED"
    assert task["status"]["message"]["parts"] == [
        {"text": "The model openai/fake-model is unavailable after 3 attempts."},
        {
            "data": {"taskOutcome": {"completedRequest": False, "toolCalls": []}},
            "mediaType": "application/json",
        },
    ]
    assert len(fake.requests) == 3
    failed = await LLMCall.objects.aget(task_id=task["id"])
    assert (failed.outcome, failed.attempts) == ("unavailable", 3)
    # The provider is now considered down: the next task fails at once, without a request.
    fast = await rpc_send_task(rpc, api_key, "again")
    assert fast["status"]["state"] == "TASK_STATE_FAILED"
    assert (
        "is unavailable (it failed 1 times in a row)"
        in fast["status"]["message"]["parts"][0]["text"]
    )
    assert len(fake.requests) == 3
    assert (await LLMCall.objects.aget(task_id=fast["id"])).outcome == "circuit_open"


async def test_a_hang_past_the_timeout_is_retried(rpc, api_key, fake, settings):
    settings.WEBCAP_MODEL_TIMEOUT = 0.5
    fake.script(Hang(3), Text("Back again."))
    task = await rpc_send_task(rpc, api_key, "hello")
    assert task_answer(task) == "Back again."
    call = await LLMCall.objects.aget(task_id=task["id"])
    assert (call.attempts, call.outcome) == (2, "ok")


async def test_bad_credentials_are_not_retried(rpc, api_key, fake):
    fake.script(Error(401, "Incorrect API key provided"))
    task = await rpc_send_task(rpc, api_key, "hello")
    assert task["status"]["state"] == "TASK_STATE_FAILED"
    assert "refused webcap's credentials" in task["status"]["message"]["parts"][0]["text"]
    assert len(fake.requests) == 1


async def test_approve_and_reject_through_the_real_model_path(
    rpc, async_client, api_key, fake, settings, tmp_path
):
    (tmp_path / "notes.txt").write_text("remember the milk")
    settings.WEBCAP_FILES_ROOT = str(tmp_path)
    fake.script(
        ToolCalls(
            [("r1", "read_file", {"path": "notes.txt"}), ("r2", "read_file", {"path": "notes.txt"})]
        ),
        Text("Read one of them."),
    )
    task = await rpc_send_task(rpc, api_key, "read my notes twice")
    assert task["status"]["state"] == "TASK_STATE_INPUT_REQUIRED"
    pending = task["status"]["message"]["parts"][1]["data"]["pendingToolCalls"]
    headers = {"Authorization": f"Bearer {api_key}"}
    first = await async_client.post(
        f"/api/tool-calls/{pending[0]['toolCallId']}/approve/",
        headers=headers,
        content_type=JSON,
    )
    assert first.status_code == 200
    # One call still waits: the task stays interrupted and the model is not asked yet.
    assert (await Task.objects.aget(pk=task["id"])).state == TaskState.INPUT_REQUIRED
    assert len(fake.requests) == 1
    second = await async_client.post(
        f"/api/tool-calls/{pending[1]['toolCallId']}/reject/",
        {"reason": "once is enough"},
        content_type="application/json",
        headers=headers,
    )
    assert second.status_code == 200
    done = (await rpc("GetTask", {"id": task["id"]}, key=api_key)).json()["result"]
    assert done["status"]["state"] == "TASK_STATE_COMPLETED"
    results = {
        m["tool_call_id"]: json.loads(m["content"]) for m in _tool_messages(fake.requests[1])
    }
    assert results == {
        "r1": {"result": "remember the milk"},
        "r2": {"error": "read_file was not approved", "rejected": True, "reason": "once is enough"},
    }


async def test_cancel_while_awaiting_approval(rpc, api_key, fake):
    fake.script(ToolCalls([("h1", "http_request", {"url": "https://example.com"})]))
    task = await rpc_send_task(rpc, api_key, "fetch it")
    assert task["status"]["state"] == "TASK_STATE_INPUT_REQUIRED"
    canceled = (await rpc("CancelTask", {"id": task["id"]}, key=api_key)).json()["result"]
    assert canceled["status"]["state"] == "TASK_STATE_CANCELED"
    call = await ToolCall.objects.aget(task_id=task["id"])
    assert call.status == ToolCallStatus.CANCELLED
    assert len(fake.requests) == 1


async def test_files_reach_the_model_and_the_conversation_continues_in_its_context(
    rpc, api_key, fake
):
    fake.script(Text("It says hello."), Text("You asked about a file."))
    parts = [
        {"text": "what does this say?"},
        {"raw": "aGVsbG8gZmlsZQ==", "mediaType": "text/plain", "filename": "a.txt"},
        {"raw": "iVBORw0KGgo=", "mediaType": "image/png", "filename": "p.png"},
    ]
    await rpc_send_task(rpc, api_key, "", parts=parts, context_id="chat-1")
    content = fake.requests[0]["messages"][-1]["content"]
    assert content == (
        "what does this say?\nFile a.txt (text/plain):\nhello file\n"
        "[image p.png omitted: this model cannot see images]"
    )
    await rpc_send_task(rpc, api_key, "what did I ask?", context_id="chat-1")
    roles = [m["role"] for m in fake.requests[1]["messages"]]
    assert roles == ["system", "user", "assistant", "user"]
    assert fake.requests[1]["messages"][2]["content"] == "It says hello."


async def test_three_tasks_in_a_context_trigger_a_summary(rpc, api_key, fake, settings):
    settings.WEBCAP_MODEL_CONTEXT_TOKENS = 200
    long_text = "word " * 60
    fake.script(
        Text(long_text), Text(long_text), Text("The user chatted twice."), Text("Third answer.")
    )
    for text in ("first question", "second question", "third question"):
        await rpc_send_task(rpc, api_key, text, context_id="long")
    summary_request = fake.requests[2]
    assert summary_request["messages"][0]["content"].startswith("Summarize the conversation")
    assert "first question" in summary_request["messages"][1]["content"]
    assert "tools" not in summary_request
    final = fake.requests[3]
    assert "The user chatted twice." in final["messages"][0]["content"]
    assert [m["role"] for m in final["messages"]] == ["system", "user"]
    assert await LLMCall.objects.filter(purpose="summary", outcome="ok").acount() == 1


# --- A worker killed between steps, and during a step -------------------------------------------

EFFECTS: list[str] = []


@pytest.fixture
def side_effect_tool(monkeypatch):
    """A tool whose every run is visible from outside, and which may not run twice."""
    EFFECTS.clear()
    registry_before = dict(registry.REGISTRY)

    @tool(description="Record a side effect.", side_effects=True)
    def record(label: str) -> str:
        EFFECTS.append(label)
        return f"recorded {label}"

    yield
    registry.REGISTRY.clear()
    registry.REGISTRY.update(registry_before)


@pytest.fixture
def manual_jobs(monkeypatch):
    """Jobs are queued but not run: the test runs each step, as a worker would."""
    queued: list[str] = []
    monkeypatch.setattr(jobs.task_run_job, "delay", lambda task_id: queued.append(str(task_id)))
    return queued


def _step(task_id: str) -> None:
    jobs.task_run_job.apply(args=(task_id,))


def test_resume_after_the_worker_died_between_steps(fake, side_effect_tool, manual_jobs, settings):
    user = make_user("carol")
    fake.script(ToolCalls([("k1", "record", {"label": "once"})]), Text("Recorded."))
    result = send(user, "record something")  # the transaction commits: the first job is queued
    task_id = str(result.task_id)
    assert manual_jobs == [task_id]
    _step(task_id)  # the model turn: the call is stored, the next step is queued
    assert manual_jobs == [task_id, task_id]
    # The worker dies here: the queued job is lost with it. A new process sweeps.
    manual_jobs.clear()
    assert tasks_requeue_unfinished() == 1
    _step(task_id)  # runs the tool
    _step(task_id)  # asks the model again
    assert Task.objects.get(pk=task_id).state == TaskState.COMPLETED
    assert EFFECTS == ["once"]
    assert len(fake.requests) == 2
    # Running a finished task's job again does nothing.
    _step(task_id)
    assert EFFECTS == ["once"]
    assert len(fake.requests) == 2


def test_a_side_effect_interrupted_mid_run_is_not_run_again(
    fake, side_effect_tool, manual_jobs, settings
):
    user = make_user("dave")
    fake.script(ToolCalls([("k1", "record", {"label": "maybe"})]), Text("It was interrupted."))
    task_id = str(send(user, "record something").task_id)
    _step(task_id)
    # The worker dies while the tool runs: the call is left executing.
    ToolCall.objects.filter(task_id=task_id).update(status=ToolCallStatus.EXECUTING)
    _step(task_id)  # recovers the call without running it, then continues
    _step(task_id)
    call = ToolCall.objects.get(task_id=task_id)
    assert call.status == ToolCallStatus.ERROR
    assert call.error.startswith("interrupted by a restart before it finished")
    assert EFFECTS == []
    assert json.loads(_tool_messages(fake.requests[1])[0]["content"])["error"].startswith(
        "interrupted"
    )
    assert Task.objects.get(pk=task_id).state == TaskState.COMPLETED
