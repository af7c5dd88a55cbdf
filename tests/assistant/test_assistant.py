"""The assistant agent end to end in-process, with the offline model and real tools.

Jobs run eagerly, so one SendMessage runs every step of the loop before it returns.
"""

from __future__ import annotations

import dataclasses
import time

import pytest
from asgiref.sync import sync_to_async
from django.test import AsyncClient

from a2a.models import Context, Task
from assistant.step import ArtifactWriter
from audit.models import AuditEvent
from tests.factories import message_params, rpc_send_task, task_answer
from tests.tools.helpers import pending_approval, settled
from tools.models import EntryRole, LLMCall, ToolCall, ToolCallStatus, TranscriptEntry
from tools.registry import REGISTRY, ToolError, tool_get

# The management API takes JSON bodies only; a POST without a body sends an empty one.
JSON = "application/json"

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("offline_assistant")]


async def _calls(task_id):
    return [
        c async for c in ToolCall.objects.filter(task_id=task_id).order_by("created_at", "position")
    ]


async def test_arithmetic_runs_the_calculator_and_answers(rpc, api_key):
    task = await rpc_send_task(rpc, api_key, "what is 12*7?")
    assert task["status"]["state"] == "TASK_STATE_COMPLETED"
    assert task_answer(task) == "12*7 = 84."
    [call] = await _calls(task["id"])
    assert (call.tool, call.arguments, call.status, call.result) == (
        "calculator",
        {"expression": "12*7"},
        ToolCallStatus.SUCCESS,
        84,
    )
    llm_calls = [c async for c in LLMCall.objects.filter(task_id=task["id"]).order_by("id")]
    assert [(c.model, c.outcome, c.purpose) for c in llm_calls] == [
        ("webcap/offline", "ok", "turn")
    ] * 2
    assert all(c.prompt_tokens > 0 for c in llm_calls)
    roles = [
        e.role
        async for e in TranscriptEntry.objects.filter(task_id=task["id"]).order_by("position")
    ]
    assert roles == [EntryRole.USER, EntryRole.ASSISTANT, EntryRole.ASSISTANT]


async def test_parallel_calls_in_one_turn(rpc, api_key):
    task = await rpc_send_task(rpc, api_key, "what is 2+2 and what time is it")
    calls = await _calls(task["id"])
    assert [c.tool for c in calls] == ["calculator", "current_time"]
    assert len({c.turn_id for c in calls}) == 1
    assert {c.status for c in calls} == {ToolCallStatus.SUCCESS}
    assert task_answer(task).startswith("2+2 = 4.\nThe time is ")


async def test_everyday_arithmetic_and_a_greeting(rpc, api_key):
    task = await rpc_send_task(rpc, api_key, "What's 15% of 240?")
    assert task["status"]["state"] == "TASK_STATE_COMPLETED"
    assert task_answer(task) == "15% * 240 = 36."
    [call] = await _calls(task["id"])
    assert (call.tool, call.arguments, call.result) == (
        "calculator",
        {"expression": "15% * 240"},
        36,
    )

    task = await rpc_send_task(rpc, api_key, "hello")
    assert task["status"]["state"] == "TASK_STATE_COMPLETED"
    assert task_answer(task).startswith(
        "Hello! I am webcap's offline model, a rule-based stand-in, not a language model."
    )
    assert await _calls(task["id"]) == []


async def test_reading_a_missing_file_asks_nobody_and_names_the_folder(rpc, api_key, files_folder):
    task = await rpc_send_task(rpc, api_key, "read README.md")
    assert task["status"]["state"] == "TASK_STATE_COMPLETED"
    assert task_answer(task) == (
        f"read_file failed: no file 'README.md' in the files folder {files_folder.resolve()}: "
        "copy the file there (the setting WEBCAP_FILES_ROOT names the folder)."
    )
    [call] = await _calls(task["id"])
    assert (call.status, call.requires_approval) == (ToolCallStatus.ERROR, False)
    assert not await AuditEvent.objects.filter(action="toolcall.request").aexists()

    # A file that is there still waits for a person.
    (files_folder / "README.md").write_text("# hello")
    task = await rpc_send_task(rpc, api_key, "read README.md")
    assert task["status"]["state"] == "TASK_STATE_INPUT_REQUIRED"
    [pending] = task["status"]["message"]["parts"][1]["data"]["pendingToolCalls"]
    assert (pending["tool"], pending["arguments"]) == ("read_file", {"path": "README.md"})


async def test_approve_with_an_a2a_follow_up(rpc, api_key, site):
    task, call_id = await pending_approval(rpc, api_key, site)
    decision = {"toolCallDecision": {"toolCallId": call_id, "approved": True, "reason": "fine"}}
    done = await rpc_send_task(
        rpc, api_key, "go ahead", task_id=task["id"], parts=[{"data": decision}]
    )
    assert done["status"]["state"] == "TASK_STATE_COMPLETED"
    title = 'The page title is "Test Page".'
    assert task_answer(done) == f"Fetched {site.url}: HTTP 200, 69 bytes. {title}"
    assert site.gets == ["/hook"]
    call = await ToolCall.objects.select_related("decided_by").aget(pk=call_id)
    assert call.decided_by is not None
    assert (call.decision, call.decision_reason, call.decided_by.username) == (
        "approved",
        "fine",
        "alice",
    )


async def test_approve_over_rest(rpc, async_client, api_key, site):
    task, call_id = await pending_approval(rpc, api_key, site)
    response = await async_client.post(
        f"/api/tool-calls/{call_id}/approve/",
        {"reason": "ok"},
        content_type="application/json",
        headers={"Authorization": f"Bearer {api_key}"},
    )
    assert response.status_code == 200
    assert response.json()["decision"] == "approved"
    done = await settled(rpc, api_key, task["id"])
    assert done["status"]["state"] == "TASK_STATE_COMPLETED"
    assert "Test Page" in task_answer(done)


async def test_approve_on_the_approval_page(rpc, api_key, site, user):
    task, call_id = await pending_approval(rpc, api_key, site)
    page = AsyncClient()
    await sync_to_async(page.force_login)(user)
    listing = await page.get("/approvals/")
    assert listing.status_code == 200
    assert call_id in listing.content.decode()
    assert "http_request reaches the network" in listing.content.decode()
    response = await page.post(
        "/approvals/", {"tool_call": call_id, "decision": "approve", "reason": "page"}
    )
    assert response.status_code == 302
    done = await settled(rpc, api_key, task["id"])
    assert done["status"]["state"] == "TASK_STATE_COMPLETED"


async def test_approve_in_the_admin(rpc, api_key, site, user):
    task, call_id = await pending_approval(rpc, api_key, site)
    user.is_staff = user.is_superuser = True
    await user.asave()
    admin = AsyncClient()
    await sync_to_async(admin.force_login)(user)
    response = await admin.post(
        "/admin/tools/toolcall/", {"action": "approve", "_selected_action": [call_id]}
    )
    assert response.status_code == 302
    done = await settled(rpc, api_key, task["id"])
    assert done["status"]["state"] == "TASK_STATE_COMPLETED"
    call = await ToolCall.objects.aget(pk=call_id)
    assert (call.decision, call.decision_reason) == ("approved", "decided in the admin")


async def test_reject_with_a_reason_reaches_the_model(rpc, async_client, api_key, site):
    task, call_id = await pending_approval(rpc, api_key, site)
    response = await async_client.post(
        f"/api/tool-calls/{call_id}/reject/",
        {"reason": "not today"},
        content_type="application/json",
        headers={"Authorization": f"Bearer {api_key}"},
    )
    assert response.json()["status"] == "cancelled"
    done = await settled(rpc, api_key, task["id"])
    assert done["status"]["state"] == "TASK_STATE_COMPLETED"
    assert task_answer(done) == "http_request was not approved: not today."
    assert site.gets == []


async def test_deciding_again_is_idempotent_and_other_decisions_refused(
    rpc, async_client, api_key, site
):
    _task, call_id = await pending_approval(rpc, api_key, site)
    headers = {"Authorization": f"Bearer {api_key}"}
    url = f"/api/tool-calls/{call_id}"
    assert (
        await async_client.post(f"{url}/reject/", headers=headers, content_type=JSON)
    ).status_code == 200
    again = await async_client.post(f"{url}/reject/", headers=headers, content_type=JSON)
    assert again.status_code == 200
    refused = await async_client.post(f"{url}/approve/", headers=headers, content_type=JSON)
    assert refused.status_code == 409
    # The rejection let the task finish, so any other decision is refused.
    assert "its tool calls are closed" in refused.json()["detail"]


@pytest.mark.parametrize(
    ("decision", "text"),
    [
        ({"toolCallId": "x"}, "approved: Field required"),
        ({"toolCallId": "x", "approved": "yes"}, "approved: Input should be a valid boolean"),
        ({"approved": True}, "toolCallId: Field required"),
        (
            {"toolCallId": "x", "approved": True, "extra": 1},
            "extra: Extra inputs are not permitted",
        ),
        ("approve", "Input should be a valid dictionary"),
    ],
)
async def test_malformed_decision_is_invalid_params_naming_the_shape(
    rpc, api_key, site, decision, text
):
    task, _ = await pending_approval(rpc, api_key, site)
    params = message_params(
        "x", task_id=task["id"], parts=[{"data": {"toolCallDecision": decision}}]
    )
    error = (await rpc("SendMessage", params, key=api_key)).json()["error"]
    assert error["code"] == -32602
    assert (
        'expected {"toolCallDecision": {"toolCallId": "<id>", "approved": true | false'
        in error["message"]
    )
    assert text in error["message"]
    assert (await Task.objects.aget(pk=task["id"])).state == "input-required"


async def test_decisions_on_calls_that_are_not_yours_are_not_found(
    rpc, async_client, api_key, other_api_key, site
):
    task, call_id = await pending_approval(rpc, api_key, site)
    _other_task, other_call = await pending_approval(rpc, other_api_key, site)
    params = message_params(
        "x",
        task_id=task["id"],
        parts=[{"data": {"toolCallDecision": {"toolCallId": other_call, "approved": True}}}],
    )
    error = (await rpc("SendMessage", params, key=api_key)).json()["error"]
    assert error["code"] == -32001
    response = await async_client.post(
        f"/api/tool-calls/{other_call}/approve/",
        headers={"Authorization": f"Bearer {api_key}"},
        content_type=JSON,
    )
    assert response.status_code == 404
    assert (await ToolCall.objects.aget(pk=other_call)).decision == ""
    listing = (
        await async_client.get("/api/tool-calls/", headers={"Authorization": f"Bearer {api_key}"})
    ).json()
    assert [c["id"] for c in listing["results"]] == [call_id]


async def test_cancel_while_awaiting_approval_cancels_the_calls(rpc, async_client, api_key, site):
    task, call_id = await pending_approval(rpc, api_key, site)
    canceled = (await rpc("CancelTask", {"id": task["id"]}, key=api_key)).json()["result"]
    assert canceled["status"]["state"] == "TASK_STATE_CANCELED"
    call = await ToolCall.objects.aget(pk=call_id)
    assert (call.status, call.error) == (ToolCallStatus.CANCELLED, "the task was canceled")
    late = await async_client.post(
        f"/api/tool-calls/{call_id}/approve/",
        headers={"Authorization": f"Bearer {api_key}"},
        content_type=JSON,
    )
    assert late.status_code == 409
    assert site.gets == []


async def test_a_tool_that_raises_or_hangs_becomes_an_error_the_model_reads(
    rpc, api_key, monkeypatch
):
    echo = tool_get("echo")
    assert echo is not None

    def broken(text):
        raise ToolError("the echo chamber is closed")

    monkeypatch.setitem(REGISTRY, "echo", dataclasses.replace(echo, function=broken))
    task = await rpc_send_task(rpc, api_key, "echo hello")
    assert task["status"]["state"] == "TASK_STATE_COMPLETED"
    assert task_answer(task) == "echo failed: the echo chamber is closed."

    def slow(text):
        time.sleep(2)
        return text

    monkeypatch.setitem(REGISTRY, "echo", dataclasses.replace(echo, function=slow, timeout=0.2))
    task = await rpc_send_task(rpc, api_key, "echo hello")
    assert task["status"]["state"] == "TASK_STATE_COMPLETED"
    assert task_answer(task) == "echo failed: timed out after 0.2 s."
    [call] = await _calls(task["id"])
    assert call.status == ToolCallStatus.ERROR


async def test_three_tasks_in_one_context_fold_older_turns_into_a_summary(rpc, api_key, settings):
    settings.WEBCAP_MODEL_CONTEXT_TOKENS = 120
    first = await rpc_send_task(rpc, api_key, "what is 1+1?", context_id="talk")
    for text in ("what is 2+2?", "what is 3+3?"):
        task = await rpc_send_task(rpc, api_key, text, context_id="talk")
        assert task["status"]["state"] == "TASK_STATE_COMPLETED"
    context = await Context.objects.aget(pk=(await Task.objects.aget(pk=first["id"])).context_id)
    assert context.summary.startswith("Summary: ")
    assert "what is 1+1?" in context.summary
    folded = await TranscriptEntry.objects.filter(context=context, summarized=True).acount()
    assert folded >= 3
    assert await LLMCall.objects.filter(purpose="summary").aexists()


class _Recorder:
    """Stands in for TaskRun: records the artifact chunks a writer sends."""

    def __init__(self) -> None:
        self.chunks: list[tuple[str, bool, bool]] = []

    def artifact(self, *, artifact_id, name, parts, append, last_chunk):
        self.chunks.append((parts[0]["text"], append, last_chunk))


def test_streamed_text_is_cut_between_words_and_the_last_chunk_has_text():
    recorder = _Recorder()
    writer = ArtifactWriter(recorder, "response-1")  # type: ignore[arg-type]
    words = [f" word{i}" for i in range(30)] + [" end. "]
    for word in words:
        writer.write(word)
    writer.close()

    texts = [text for text, _, _ in recorder.chunks]
    assert "".join(texts) == "".join(words)
    assert len(texts) > 3
    assert all(text.startswith(" word") for text in texts[1:-1])
    assert texts[-1].strip()  # never an empty closing chunk
    assert [(a, last) for _, a, last in recorder.chunks] == (
        [(False, False)] + [(True, False)] * (len(texts) - 2) + [(True, True)]
    )


def test_a_long_word_is_sent_without_waiting_for_a_space():
    recorder = _Recorder()
    writer = ArtifactWriter(recorder, "response-1")  # type: ignore[arg-type]
    writer.write("x" * 100)
    writer.close()
    assert [text for text, _, _ in recorder.chunks] == ["x" * 99, "x"]
