"""Writes of the assistant: its transcript, context summaries, decisions and usage records.

The assistant's rows live in the tools app's tables (see the package docstring); every row
it writes is written here. Transcript writes hold the task's lock, so two steps of one task
never take the same position; the tool calls of a turn are stored (and audited) by the
tool platform, ``tools.services``, in the same transaction as the turn.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from django.db import transaction

from a2a.models import Context, Message, Task
from a2a.protocol.errors import TaskNotFoundError, UnsupportedOperationError
from accounts.models import User
from assistant.metrics import llm_request_record
from tools.models import EntryRole, LLMCall, ToolCall, TranscriptEntry
from tools.services import (
    DecisionRefused,
    RequestedCall,
    tool_call_decide_locked,
    tool_calls_request,
)


def transcript_next_position(*, context_id: Any) -> int:
    """Return the next position in a context's transcript (the caller holds the task lock)."""
    last = (
        TranscriptEntry.objects.filter(context_id=context_id)
        .order_by("-position")
        .values_list("position", flat=True)
        .first()
    )
    return (last or 0) + 1


@transaction.atomic
def transcript_user_messages_add(*, task: Task, messages: list[Message]) -> None:
    """Append a task's new user messages, their text, to its context's transcript."""
    Task.objects.select_for_update().filter(pk=task.pk).first()
    position = transcript_next_position(context_id=task.context_id)
    for offset, message in enumerate(messages):
        TranscriptEntry.objects.create(
            context_id=task.context_id,
            task=task,
            position=position + offset,
            role=EntryRole.USER,
            content="\n".join(p["text"] for p in message.parts if "text" in p),
            message=message,
        )


@transaction.atomic(durable=True)
def assistant_turn_store(
    *, task: Task, text: str, requested: list[RequestedCall]
) -> tuple[TranscriptEntry, list[ToolCall]]:
    """Store a model turn and the tool calls it asked for, validated, in one transaction.

    The calls are stored by ``tools.services.tool_calls_request``, which audits those that
    wait for a person or were refused by the owner's roles.
    """
    locked = Task.objects.select_for_update(of=("self",)).select_related("owner").get(pk=task.pk)
    entry = TranscriptEntry.objects.create(
        context_id=locked.context_id,
        task=locked,
        position=transcript_next_position(context_id=locked.context_id),
        role=EntryRole.ASSISTANT,
        content=text,
    )
    return entry, tool_calls_request(task=locked, turn=entry, requested=requested)


@transaction.atomic
def context_summary_store(*, context: Context, summary: str, folded: list[TranscriptEntry]) -> None:
    """Keep a context's new summary and mark the turns it folded in as summarized."""
    Context.objects.filter(pk=context.pk).update(summary=summary)
    TranscriptEntry.objects.filter(pk__in=[e.pk for e in folded]).update(summarized=True)


def assistant_decision_apply(
    *, task: Task, tool_call_id: str, user: User, approved: bool, reason: str
) -> ToolCall:
    """Record a follow-up's decision on a call of the task (locked by the caller).

    An id that names no call of this task is not found (-32001); a call that does not wait
    for a decision, or a task that has ended, is refused as unsupported (-32004).
    """
    call_id = _uuid_or_none(tool_call_id)
    call = (
        ToolCall.objects.select_for_update().filter(pk=call_id, task=task).first()
        if call_id is not None
        else None
    )
    if call is None:
        raise TaskNotFoundError(
            f"Tool call {tool_call_id!r} not found in task {task.id}",
            metadata={"taskId": str(task.id), "toolCallId": tool_call_id},
        )
    try:
        return tool_call_decide_locked(
            task=task, call=call, user=user, approved=approved, reason=reason
        )
    except DecisionRefused as exc:
        raise UnsupportedOperationError(exc.message) from exc


def _uuid_or_none(value: str) -> str | None:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


def llm_call_record(
    *,
    task_id: Any,
    model: str,
    purpose: str,
    seconds: float,
    attempts: int,
    outcome: str,
    error: str,
    prompt_tokens: int,
    completion_tokens: int,
    cost_usd: Decimal,
) -> LLMCall:
    """Record one model request, answered or refused: its usage row and its metrics."""
    llm_request_record(
        model=model,
        outcome=outcome,
        seconds=seconds,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        cost_usd=float(cost_usd),
    )
    return LLMCall.objects.create(
        task_id=task_id,
        model=model,
        purpose=purpose,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        cost_usd=cost_usd,
        latency_ms=int(seconds * 1000),
        attempts=attempts,
        outcome=outcome,
        error=error,
    )
