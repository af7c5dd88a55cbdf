"""Reads of the tools app, scoped to what the caller may see or decide.

A tool call or model request is visible exactly when its task is (``a2a.selectors``); the
calls a person may decide are those of their own tasks, of tasks shared with them for
approval when they are an approver, and every call for admins (accounts/roles.py).
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from a2a.models import Task
from a2a.selectors import APPROVE, granted, tasks_visible_to
from accounts.models import User
from accounts.roles import decides_when_granted, manages_all_tasks, may_send, sees_all_tasks
from tools.models import Decision, LLMCall, ToolCall, ToolCallStatus


def tool_calls_visible_to(*, user: User) -> QuerySet[ToolCall]:
    """Return the tool calls of the tasks the user may read."""
    if sees_all_tasks(user):
        return ToolCall.objects.all()
    return ToolCall.objects.filter(task__in=tasks_visible_to(user=user))


def llm_calls_visible_to(*, user: User) -> QuerySet[LLMCall]:
    """Return the model requests made for the tasks the user may read."""
    if sees_all_tasks(user):
        return LLMCall.objects.all()
    return LLMCall.objects.filter(task__in=tasks_visible_to(user=user))


def tool_calls_awaiting_decision_by(*, user: User) -> QuerySet[ToolCall]:
    """Return the calls waiting for a decision that the user may make, oldest first."""
    waiting = ToolCall.objects.filter(status=ToolCallStatus.AWAITING_APPROVAL, decision="")
    if manages_all_tasks(user):
        decidable = waiting
    elif not may_send(user):
        decidable = waiting.none()
    else:
        mine = Q(task__owner=user)
        if decides_when_granted(user):
            shared = Task.objects.filter(granted(user=user, permission=APPROVE))
            mine |= Q(task__in=shared)
        decidable = waiting.filter(mine)
    return decidable.select_related("task__owner").order_by("created_at", "position")


def tool_call_outcome(call: ToolCall) -> dict[str, Any]:
    """Return how a call ended, as clients read it (docs/agent.md, "Outcomes").

    ``succeeded``; ``failed`` with the error; ``rejected`` with the reason (a person's, or
    the role policy's); ``expired``: it never ran to the end because its task ended first
    (canceled while the call waited for a decision, to run, or ran), with what happened.
    """
    outcome: dict[str, Any] = {"toolCallId": str(call.id), "tool": call.tool}
    if call.status == ToolCallStatus.SUCCESS:
        outcome["outcome"] = "succeeded"
    elif call.decision == Decision.REJECTED:
        outcome.update(outcome="rejected", reason=call.decision_reason or "no reason given")
    elif call.status == ToolCallStatus.ERROR:
        outcome.update(outcome="failed", error=call.error)
    else:
        outcome.update(outcome="expired", error=call.error or "the task ended before it ran")
    return outcome


def tool_call_outcomes(*, task: Task) -> list[dict[str, Any]]:
    """Return the outcome of every call of a task, in the order the model asked for them."""
    calls = ToolCall.objects.filter(task=task).order_by("created_at", "position")
    return [tool_call_outcome(call) for call in calls]
