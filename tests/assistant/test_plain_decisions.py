"""Deciding a pending tool call in plain words ("yes", "no, too risky"), end to end.

The assistant runs on the offline model with real tools; a task waits for one http_request
call (tests/tools/helpers.py) and the follow-up is ordinary text. docs/agent.md, "Approvals".
"""

from __future__ import annotations

import json

import pytest
from asgiref.sync import sync_to_async
from django.test import AsyncClient

from a2a.models import Task
from assistant.decisions import PlainDecision, plain_decision
from tests.a2a.people import NAMES, cast_people
from tests.factories import message_params, rpc_send_task, task_answer
from tests.tools.helpers import pending_approval, settled
from tools.models import ToolCall

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("offline_assistant")]

CHOICES = (
    'Reply "yes" to run it or "no, <reason>" to reject it, or decide with a toolCallDecision '
    "data part, on the approval page (/approvals/) or over the REST API "
    "(POST /api/tool-calls/<id>/approve/ or /reject/)."
)


@pytest.mark.parametrize(
    ("text", "decision"),
    [
        ("yes", PlainDecision(True, "")),
        ("yes go ahead", PlainDecision(True, "")),
        ("Go ahead.", PlainDecision(True, "")),
        ("ok do it", PlainDecision(True, "")),
        ("approve", PlainDecision(True, "")),
        ("Sure, it looks safe", PlainDecision(True, "it looks safe")),
        ("no", PlainDecision(False, "")),
        ("no, don't", PlainDecision(False, "")),
        ("No \u2014 don\u2019t do it, it costs money", PlainDecision(False, "it costs money")),
        ("reject", PlainDecision(False, "")),
        ("stop", PlainDecision(False, "")),
        ("no, not that site", PlainDecision(False, "not that site")),
        ("Reject: wrong host", PlainDecision(False, "wrong host")),
        ("no thanks", PlainDecision(False, "")),
    ],
)
def test_clear_replies(text, decision):
    assert plain_decision(text) == decision


@pytest.mark.parametrize(
    "text",
    [
        "",
        "maybe",
        "hmm",
        "yes?",
        "what does it fetch?",
        "yes no",
        "no, go ahead",
        "yes, but not now",
        "ok, what does it do",
        "yesterday was fine",
        "nothing to say",
        "please read notes.txt instead",
    ],
)
def test_unclear_replies(text):
    assert plain_decision(text) is None


async def _decision(call_id: str) -> tuple[str, str, str | None]:
    call = await ToolCall.objects.select_related("decided_by").aget(pk=call_id)
    decider = call.decided_by.username if call.decided_by else None
    return call.decision, call.decision_reason, decider


async def test_yes_go_ahead_runs_the_one_pending_call(rpc, api_key, site):
    task, call_id = await pending_approval(rpc, api_key, site)

    done = await rpc_send_task(rpc, api_key, "yes go ahead", task_id=task["id"])

    assert done["status"]["state"] == "TASK_STATE_COMPLETED"
    assert task_answer(done).startswith(f"Fetched {site.url}: HTTP 200")
    assert site.gets == ["/hook"]
    assert await _decision(call_id) == ("approved", "", "alice")


async def test_no_with_a_reason_reaches_the_model_and_the_answer(rpc, api_key, site):
    task, call_id = await pending_approval(rpc, api_key, site)

    done = await rpc_send_task(rpc, api_key, "no, not today", task_id=task["id"])

    assert done["status"]["state"] == "TASK_STATE_COMPLETED"
    assert task_answer(done) == "http_request was not approved: not today."
    assert site.gets == []
    assert await _decision(call_id) == ("rejected", "not today", "alice")
    outcome = done["status"]["message"]["parts"][0]["data"]["taskOutcome"]
    assert outcome["toolCalls"][0]["reason"] == "not today"


async def test_an_unclear_reply_asks_again_naming_the_call_and_the_choices(
    rpc, async_client, api_key, site, user
):
    task, call_id = await pending_approval(rpc, api_key, site)

    again = await rpc_send_task(rpc, api_key, "what does it fetch?", task_id=task["id"])

    assert again["status"]["state"] == "TASK_STATE_INPUT_REQUIRED"
    text, data = again["status"]["message"]["parts"]
    described = f"http_request({json.dumps({'url': site.url, 'method': 'GET'})})"
    assert text == {
        "text": f'I could not tell whether "what does it fetch?" approves or rejects {described}. '
        + CHOICES
    }
    assert [p["toolCallId"] for p in data["data"]["pendingToolCalls"]] == [call_id]
    assert await _decision(call_id) == ("", "", None)

    # Rejected on the approval page: the reason, not the unclear reply, shapes the answer.
    page = AsyncClient()
    await sync_to_async(page.force_login)(user)
    await page.post(
        "/approvals/", {"tool_call": call_id, "decision": "reject", "reason": "too slow"}
    )
    done = await settled(rpc, api_key, task["id"])
    assert done["status"]["state"] == "TASK_STATE_COMPLETED"
    assert task_answer(done) == "http_request was not approved: too slow."


async def test_with_several_pending_calls_plain_words_decide_nothing(rpc, api_key, site):
    task = await rpc_send_task(rpc, api_key, f"fetch {site.url} and fetch {site.url}?again")
    pending = task["status"]["message"]["parts"][1]["data"]["pendingToolCalls"]
    assert len(pending) == 2
    described = "; ".join(f"http_request({json.dumps(p['arguments'])})" for p in pending)
    assert task["status"]["message"]["parts"][0]["text"].startswith(
        f"Approval needed before running: {described}. Several calls wait for a decision, so "
        "a plain yes or no cannot say which"
    )

    again = await rpc_send_task(rpc, api_key, "yes", task_id=task["id"])

    assert again["status"]["state"] == "TASK_STATE_INPUT_REQUIRED"
    assert again["status"]["message"]["parts"][0]["text"] == (
        'Your reply "yes" decides nothing. Several calls wait for a decision, so a plain yes or '
        "no cannot say which: decide with a toolCallDecision data part, on the approval page "
        "(/approvals/) or over the REST API (POST /api/tool-calls/<id>/approve/ or /reject/), "
        f"once for each toolCallId. Waiting: {described}."
    )
    assert [await _decision(p["toolCallId"]) for p in pending] == [("", "", None)] * 2
    # The data part still decides them, one by one.
    decisions = [
        {"data": {"toolCallDecision": {"toolCallId": p["toolCallId"], "approved": False}}}
        for p in pending
    ]
    done = await rpc_send_task(rpc, api_key, "", task_id=task["id"], parts=decisions)
    assert done["status"]["state"] == "TASK_STATE_COMPLETED"
    assert site.gets == []


async def test_a_retried_yes_is_taken_once(rpc, api_key, site):
    task, call_id = await pending_approval(rpc, api_key, site)
    params = message_params("yes", task_id=task["id"], message_id="yes-1")
    first = (await rpc("SendMessage", params, key=api_key)).json()["result"]["task"]
    again = (await rpc("SendMessage", params, key=api_key)).json()["result"]["task"]
    assert (first["status"]["state"], again["id"]) == ("TASK_STATE_COMPLETED", task["id"])
    assert site.gets == ["/hook"]
    assert await _decision(call_id) == ("approved", "", "alice")
    assert await ToolCall.objects.filter(task_id=task["id"]).acount() == 1


# Plain words are input to the agent (change_task) that decide (approve_task): the owner and
# admins. An approver decides with the data part, the page or REST; others are refused as for
# any follow-up. owner, stranger, operator, approver, lone_approver, viewer, reader, admin
PLAIN_CODES = dict(
    zip(NAMES, (None, -32001, -32040, -32040, -32001, -32040, -32040, None), strict=True)
)


@pytest.mark.parametrize("name", NAMES)
async def test_who_may_decide_in_plain_words(rpc, site, name):
    cast = await sync_to_async(cast_people)()
    task, call_id = await pending_approval(rpc, cast.keys["owner"], site)
    await sync_to_async(cast.share)(task["id"])
    params = message_params(
        "no, not now", task_id=task["id"], configuration={"returnImmediately": True}
    )

    body = (await rpc("SendMessage", params, key=cast.keys[name])).json()

    assert body.get("error", {}).get("code") == PLAIN_CODES[name]
    if PLAIN_CODES[name] is None:
        assert await _decision(call_id) == ("rejected", "not now", name)
    else:
        assert await _decision(call_id) == ("", "", None)
        assert (await Task.objects.aget(pk=task["id"])).state == "input-required"
