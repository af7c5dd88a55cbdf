"""Reads of the tools app, scoped to what the caller may see or decide.

A tool call or model request is visible exactly when its task is (``a2a.selectors``); the
calls a person may decide are those of their own tasks, of tasks shared with them for
approval when they are an approver, and every call for admins (accounts/roles.py).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from django.db.models import F, OuterRef, Q, QuerySet, Subquery, Window
from django.db.models.functions import RowNumber

from a2a.models import Message, Role, Task
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


# How many of a task's newest messages the approval page shows beside a waiting call.
RECENT_MESSAGES = 6


@dataclass(frozen=True)
class PendingApproval:
    """A call waiting for the user's decision, with what its task was asked and said lately."""

    call: ToolCall
    # The task's first user message: what the person asked for.
    request: Message | None
    # The task's newest messages, oldest first, without the request.
    recent: list[Message]


def pending_approvals(
    *, user: User, ids: Collection[uuid.UUID] | None = None
) -> list[PendingApproval]:
    """Return the calls waiting for the user's decision (those of ids only, when given),
    oldest first, each with its task's request and recent conversation (three queries)."""
    waiting = tool_calls_awaiting_decision_by(user=user)
    calls = list(waiting if ids is None else waiting.filter(pk__in=ids))
    task_ids = {call.task_id for call in calls}
    first = (
        Message.objects.filter(task_id=OuterRef("task_id"), role=Role.USER)
        .order_by("position")
        .values("position")[:1]
    )
    requests = {
        message.task_id: message
        for message in Message.objects.filter(
            task_id__in=task_ids, role=Role.USER, position=Subquery(first)
        )
    }
    newest = (
        Message.objects.filter(task_id__in=task_ids)
        .annotate(
            rank=Window(RowNumber(), partition_by=[F("task_id")], order_by=F("position").desc())
        )
        .filter(rank__lte=RECENT_MESSAGES)
        .order_by("position")
    )
    recent: dict[uuid.UUID | None, list[Message]] = defaultdict(list)
    for message in newest:
        request = requests.get(message.task_id)
        if request is None or message.pk != request.pk:
            recent[message.task_id].append(message)
    return [
        PendingApproval(call=call, request=requests.get(call.task_id), recent=recent[call.task_id])
        for call in calls
    ]


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
