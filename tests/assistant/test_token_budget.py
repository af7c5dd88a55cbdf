"""The daily model token budget per user, through the assistant and the fake OpenAI server.

Usage is what the provider reported for each request (``LLMCall`` rows); once a user's
tasks have used ``WEBCAP_LLM_TOKENS_PER_DAY`` tokens since 00:00 UTC, the next model request
is refused before it leaves webcap and the task fails with a clear message.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from assistant.llm import tokens_used_today
from tests.factories import make_key, make_user, rpc_send_task, task_answer
from tests.fakellm import FakeLLM, Text, ToolCalls
from tools.models import LLMCall, ToolCall

pytestmark = pytest.mark.django_db(transaction=True)

SPENT = "Daily model token budget of 1000 tokens used up; it resets at 00:00 UTC."


def _outcome(calls: list[dict[str, Any]]) -> dict[str, Any]:
    """The taskOutcome part of a failed task (docs/agent.md, "Outcomes")."""
    return {
        "data": {"taskOutcome": {"completedRequest": False, "toolCalls": calls}},
        "mediaType": "application/json",
    }


@pytest.fixture
def fake(fake, settings):
    """The shared fake model (tests/tools/conftest.py), no retries, a budget of 1000 tokens."""
    settings.WEBCAP_MODEL_MAX_RETRIES = 0
    settings.WEBCAP_LLM_TOKENS_PER_DAY = 1000
    return fake


async def _spend(rpc, key: str, fake: FakeLLM, tokens: tuple[int, int]) -> dict[str, Any]:
    """Run one task whose single model answer reports tokens as its usage."""
    fake.script(Text("Sure.", usage=tokens))
    task = await rpc_send_task(rpc, key, "hello")
    assert task["status"]["state"] == "TASK_STATE_COMPLETED"
    return task


async def test_a_user_who_spent_the_budget_gets_a_failed_task_and_no_model_request(
    rpc, api_key, user, fake
):
    await _spend(rpc, api_key, fake, (900, 100))
    assert await sync_to_async(tokens_used_today)(owner_id=user.pk) == 1000
    task = await rpc_send_task(rpc, api_key, "one more")
    assert task["status"]["state"] == "TASK_STATE_FAILED"
    assert task["status"]["message"]["parts"] == [{"text": SPENT}, _outcome([])]
    assert len(fake.requests) == 1  # the refused request never reached the provider
    refusal = await LLMCall.objects.aget(task_id=task["id"])
    assert (refusal.outcome, refusal.error, refusal.attempts) == ("budget", SPENT, 0)
    assert (refusal.prompt_tokens, refusal.completion_tokens) == (0, 0)


async def test_a_user_under_the_budget_is_served(rpc, api_key, fake):
    await _spend(rpc, api_key, fake, (900, 99))
    fake.script(Text("Still here."))
    task = await rpc_send_task(rpc, api_key, "one more")
    assert task["status"]["state"] == "TASK_STATE_COMPLETED"
    assert task_answer(task) == "Still here."
    assert len(fake.requests) == 2


async def test_the_budget_runs_out_between_turns_of_one_task(rpc, api_key, fake):
    fake.script(ToolCalls([("call_a", "calculator", {"expression": "6*7"})], usage=(950, 50)))
    task = await rpc_send_task(rpc, api_key, "compute")
    assert task["status"]["state"] == "TASK_STATE_FAILED"
    call = await ToolCall.objects.aget(task_id=task["id"])
    # The calculator ran, but the request was not done: the task failed.
    assert task["status"]["message"]["parts"] == [
        {"text": SPENT},
        _outcome([{"toolCallId": str(call.id), "tool": "calculator", "outcome": "succeeded"}]),
    ]
    assert len(fake.requests) == 1
    outcomes = [c.outcome async for c in LLMCall.objects.filter(task_id=task["id"]).order_by("id")]
    assert outcomes == ["ok", "budget"]


async def test_yesterdays_usage_does_not_count(rpc, api_key, user, fake):
    first = await _spend(rpc, api_key, fake, (5000, 5000))
    yesterday = timezone.now() - timedelta(days=1)
    await LLMCall.objects.filter(task_id=first["id"]).aupdate(created_at=yesterday)
    assert await sync_to_async(tokens_used_today)(owner_id=user.pk) == 0
    fake.script(Text("A new day."))
    task = await rpc_send_task(rpc, api_key, "good morning")
    assert task_answer(task) == "A new day."


async def test_other_users_usage_does_not_count(rpc, api_key, fake):
    await _spend(rpc, api_key, fake, (900, 100))
    other_key = await sync_to_async(make_key)(await sync_to_async(make_user)("carol"))
    fake.script(Text("Hello Carol."))
    task = await rpc_send_task(rpc, other_key, "hello")
    assert task_answer(task) == "Hello Carol."


async def test_zero_disables_the_budget(rpc, api_key, fake, settings):
    await _spend(rpc, api_key, fake, (900, 100))
    settings.WEBCAP_LLM_TOKENS_PER_DAY = 0
    fake.script(Text("Unlimited."))
    task = await rpc_send_task(rpc, api_key, "again")
    assert task_answer(task) == "Unlimited."
