"""The taskOutcome data part of a final status, the same on every binding (docs/agent.md).

The model is the scripted fake at its HTTP edge (tests/fakellm.py), through litellm; each
scenario runs over JSON-RPC, HTTP+JSON, the WebSocket binding and Cap'n Web, and the final
status message must say, as data, how each tool call ended and whether the request was done.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from assistant.step import AssistantStep
from tests.a2a.bindings import BINDINGS, Answer, a2a_call
from tests.factories import message_params
from tests.fakellm import Text, ToolCalls
from tools.models import ToolCall

# The management API takes JSON bodies only; a POST without a body sends an empty one.
JSON = "application/json"

pytestmark = pytest.mark.django_db(transaction=True)

FETCH = ToolCalls([("h1", "http_request", {"url": "https://example.com/"})])


def _outcome(completed: bool, calls: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "data": {"taskOutcome": {"completedRequest": completed, "toolCalls": calls}},
        "mediaType": "application/json",
    }


async def _call_id(task: dict[str, Any], position: int = 0) -> str:
    call = await ToolCall.objects.aget(task_id=task["id"], position=position)
    return str(call.id)


def _task(answer: Answer) -> dict[str, Any]:
    assert answer.error is None, answer.error
    task: dict[str, Any] = answer.result.get("task", answer.result)
    return task


async def _send(binding: str, key: str, text: str, **kwargs: Any) -> dict[str, Any]:
    return _task(await a2a_call(binding, "SendMessage", message_params(text, **kwargs), key=key))


@pytest.mark.parametrize("binding", BINDINGS)
async def test_a_succeeded_call(binding, api_key, fake):
    fake.script(ToolCalls([("c1", "calculator", {"expression": "6*7"})]), Text("It is 42."))

    task = await _send(binding, api_key, "what is 6*7")

    assert task["status"]["state"] == "TASK_STATE_COMPLETED"
    assert task["status"]["message"]["parts"] == [
        _outcome(
            True,
            [{"toolCallId": await _call_id(task), "tool": "calculator", "outcome": "succeeded"}],
        )
    ]
    read = _task(await a2a_call(binding, "GetTask", {"id": task["id"]}, key=api_key))
    assert read["status"] == task["status"]


@pytest.mark.parametrize("binding", BINDINGS)
async def test_a_failed_call_says_the_request_was_not_done(binding, api_key, fake):
    fake.script(
        ToolCalls([("c1", "calculator", {"expression": "2 +"})]),
        Text("I could not compute that."),
    )

    task = await _send(binding, api_key, "what is 2 +")

    assert task["status"]["state"] == "TASK_STATE_COMPLETED"
    assert task["status"]["message"]["parts"] == [
        _outcome(
            False,
            [
                {
                    "toolCallId": await _call_id(task),
                    "tool": "calculator",
                    "outcome": "failed",
                    "error": "not an arithmetic expression: '2 +'",
                }
            ],
        )
    ]


@pytest.mark.parametrize("binding", BINDINGS)
async def test_a_rejected_call_carries_the_reason(binding, api_key, fake):
    fake.script(FETCH, Text("I did not fetch it."))
    waiting = await _send(binding, api_key, "fetch example.com")
    assert waiting["status"]["state"] == "TASK_STATE_INPUT_REQUIRED"

    task = await _send(binding, api_key, "no, not that site", task_id=waiting["id"])

    assert task["status"]["state"] == "TASK_STATE_COMPLETED"
    assert task["status"]["message"]["parts"] == [
        _outcome(
            False,
            [
                {
                    "toolCallId": await _call_id(task),
                    "tool": "http_request",
                    "outcome": "rejected",
                    "reason": "not that site",
                }
            ],
        )
    ]
    # The model read the reason in the call's result.
    [result] = [m for m in fake.requests[1]["messages"] if m["role"] == "tool"]
    assert json.loads(result["content"]) == {
        "error": "http_request was not approved",
        "rejected": True,
        "reason": "not that site",
    }


@pytest.mark.parametrize("binding", BINDINGS)
async def test_a_call_still_waiting_when_the_task_is_canceled_expired(binding, api_key, fake):
    fake.script(FETCH)
    waiting = await _send(binding, api_key, "fetch example.com")
    assert waiting["status"]["state"] == "TASK_STATE_INPUT_REQUIRED"

    task = _task(await a2a_call(binding, "CancelTask", {"id": waiting["id"]}, key=api_key))

    assert task["status"]["state"] == "TASK_STATE_CANCELED"
    assert task["status"]["message"]["parts"] == [
        {"text": "Canceled at the client's request."},
        _outcome(
            False,
            [
                {
                    "toolCallId": await _call_id(task),
                    "tool": "http_request",
                    "outcome": "expired",
                    "error": "the task was canceled",
                }
            ],
        ),
    ]
    assert len(fake.requests) == 1


async def test_every_call_of_every_turn_is_listed_in_order(rpc, api_key, fake):
    fake.script(
        ToolCalls(
            [("a", "calculator", {"expression": "1+1"}), ("b", "nonexistent", {})],
            text="Two at once.",
        ),
        ToolCalls([("c", "echo", {"text": "again"})]),
        Text("Done."),
    )
    task = (await rpc("SendMessage", message_params("several"), key=api_key)).json()["result"][
        "task"
    ]
    # By the model's ids: a and b in its first turn, c in its second.
    ids = {c.llm_call_id: str(c.id) async for c in ToolCall.objects.filter(task_id=task["id"])}
    assert task["status"]["message"]["parts"] == [
        _outcome(
            False,
            [
                {"toolCallId": ids["a"], "tool": "calculator", "outcome": "succeeded"},
                {
                    "toolCallId": ids["b"],
                    "tool": "nonexistent",
                    "outcome": "failed",
                    "error": "unknown tool 'nonexistent'",
                },
                {"toolCallId": ids["c"], "tool": "echo", "outcome": "succeeded"},
            ],
        )
    ]


async def test_a_task_without_tool_calls_completed_its_request(rpc, api_key, fake):
    fake.script(Text("Hello."))
    task = (await rpc("SendMessage", message_params("hello"), key=api_key)).json()["result"]["task"]
    assert task["status"]["message"]["parts"] == [_outcome(True, [])]


async def test_a_task_the_agent_failed_on_lists_what_ran(rpc, api_key, fake, monkeypatch):
    fake.script(ToolCalls([("c1", "calculator", {"expression": "6*7"})]))

    def broken(self, turn):
        raise RuntimeError("a bug in the second turn")

    monkeypatch.setattr(AssistantStep, "_model_turn", _first_turn_only(broken))
    task = (await rpc("SendMessage", message_params("six sevens"), key=api_key)).json()["result"][
        "task"
    ]

    assert task["status"]["state"] == "TASK_STATE_FAILED"
    assert task["status"]["message"]["parts"] == [
        {"text": "The agent failed with an internal error."},
        _outcome(
            False,
            [{"toolCallId": await _call_id(task), "tool": "calculator", "outcome": "succeeded"}],
        ),
    ]


def _first_turn_only(then: Any) -> Any:
    """Run the real model turn once, then the replacement."""
    real = AssistantStep._model_turn

    def turn(self: AssistantStep, number: int) -> Any:
        return real(self, number) if number == 1 else then(self, number)

    return turn


async def test_the_rest_decision_names_how_to_follow_the_task(async_client, api_key, fake):
    fake.script(FETCH, Text("Not fetched."))
    waiting = await _send("jsonrpc", api_key, "fetch example.com")
    call_id = await _call_id(waiting)
    headers = {"Authorization": f"Bearer {api_key}"}

    decided = await async_client.post(
        f"/api/tool-calls/{call_id}/reject/",
        {"reason": "no need"},
        content_type="application/json",
        headers=headers,
    )

    assert decided.status_code == 200
    body = decided.json()
    assert (body["id"], body["status"], body["decision"]) == (call_id, "cancelled", "rejected")
    task_id = waiting["id"]
    assert body["follow"] == {
        "taskId": task_id,
        "a2aVersion": "1.0",
        "getTask": f"http://testserver/a2a/rest/tasks/{task_id}",
        "subscribe": f"http://testserver/a2a/rest/tasks/{task_id}:subscribe",
        "jsonrpc": {
            "url": "http://testserver/a2a/jsonrpc",
            "getTask": {"method": "GetTask", "params": {"id": task_id}},
            "subscribe": {"method": "SubscribeToTask", "params": {"id": task_id}},
        },
    }
    # Following it: the HTTP+JSON GetTask URL as given, then the JSON-RPC call as given.
    read = await async_client.get(
        body["follow"]["getTask"], headers={**headers, "A2A-Version": body["follow"]["a2aVersion"]}
    )
    assert read.json()["status"]["message"]["parts"] == [
        _outcome(
            False,
            [
                {
                    "toolCallId": call_id,
                    "tool": "http_request",
                    "outcome": "rejected",
                    "reason": "no need",
                }
            ],
        )
    ]
    call = body["follow"]["jsonrpc"]["getTask"]
    rpc_read = _task(await a2a_call("jsonrpc", call["method"], call["params"], key=api_key))
    assert rpc_read["status"] == read.json()["status"]


async def test_approving_answers_scheduled_and_where_to_follow(
    async_client, api_key, fake, settings, tmp_path
):
    settings.WEBCAP_PUBLIC_URL = "https://agent.example.org"
    settings.WEBCAP_FILES_ROOT = str(tmp_path)
    (tmp_path / "notes.txt").write_text("milk")
    fake.script(ToolCalls([("r1", "read_file", {"path": "notes.txt"})]), Text("Milk."))
    waiting = await _send("jsonrpc", api_key, "read my notes")
    call_id = await _call_id(waiting)

    decided = await async_client.post(
        f"/api/tool-calls/{call_id}/approve/",
        headers={"Authorization": f"Bearer {api_key}"},
        content_type=JSON,
    )

    body = decided.json()
    assert (body["status"], body["follow"]["taskId"]) == ("scheduled", waiting["id"])
    assert body["follow"]["subscribe"] == (
        f"https://agent.example.org/a2a/rest/tasks/{waiting['id']}:subscribe"
    )
    assert body["follow"]["jsonrpc"]["url"] == "https://agent.example.org/a2a/jsonrpc"
    done = _task(await a2a_call("jsonrpc", "GetTask", {"id": waiting["id"]}, key=api_key))
    assert done["status"]["message"]["parts"] == [
        _outcome(True, [{"toolCallId": call_id, "tool": "read_file", "outcome": "succeeded"}])
    ]
