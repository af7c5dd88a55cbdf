"""Reads of the A2A store. Every lookup by an id a client sent is scoped to its owner first."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from a2a.models import Artifact, Message, Task, TaskEvent
from a2a.protocol import convert
from a2a.protocol.errors import TaskNotFoundError
from accounts.models import User


def parse_task_id(task_id: str) -> uuid.UUID:
    """Return the UUID of a client-sent task id; anything else cannot exist (TaskNotFound)."""
    try:
        return uuid.UUID(str(task_id))
    except ValueError:
        raise TaskNotFoundError(
            f"Task {task_id!r} not found", metadata={"taskId": str(task_id)}
        ) from None


def task_get_for_user(*, user: User, task_id: str, for_update: bool = False) -> Task:
    """Return the user's task; a missing task and another user's task raise the same error."""
    pk = parse_task_id(task_id)
    queryset = Task.objects.select_related("context", "status_message")
    if for_update:
        # of=("self",): lock only the task row, not the joined context and status message.
        queryset = queryset.select_for_update(of=("self",))
    task = queryset.filter(owner=user, pk=pk).first()
    if task is None:
        raise TaskNotFoundError(f"Task {task_id!r} not found", metadata={"taskId": str(task_id)})
    return task


def task_history(*, task: Task, history_length: int | None) -> list[Message]:
    """Return the task's messages in order: all of them, or the newest history_length."""
    if history_length == 0:
        return []
    queryset = Message.objects.filter(task=task)
    if history_length is None:
        return list(queryset.order_by("position"))
    newest = list(queryset.order_by("-position")[:history_length])
    newest.reverse()
    return newest


def task_artifacts(*, task: Task) -> list[Artifact]:
    """Return the task's artifacts in the order they were created."""
    return list(Artifact.objects.filter(task=task).order_by("created_at", "id"))


def task_wire(*, task: Task, history_length: int | None) -> dict[str, Any]:
    """Return the wire Task with its artifacts and (trimmed) history."""
    return convert.task_to_wire(
        task,
        context_key=task.context.key,
        history=task_history(task=task, history_length=history_length),
        artifacts=task_artifacts(task=task) or None,
    )


def task_wire_for_user(*, user: User, task_id: str, history_length: int | None) -> dict[str, Any]:
    """Return the user's task in wire form (GetTask)."""
    task = task_get_for_user(user=user, task_id=task_id)
    return task_wire(task=task, history_length=history_length)


@dataclass(frozen=True)
class Snapshot:
    """A task as of one point in its event log."""

    task: dict[str, Any]
    seq: int
    state: str


def task_snapshot(*, user: User, task_id: str, history_length: int | None) -> Snapshot:
    """Return the task with the sequence number it reflects, read under the task's row lock.

    The lock keeps writers out while history and artifacts are read, so the snapshot holds
    exactly the events up to ``seq``; a stream that continues with ``seq + 1`` then never
    repeats or skips an artifact chunk.
    """
    with transaction.atomic():
        task = task_get_for_user(user=user, task_id=task_id, for_update=True)
        return Snapshot(
            task=task_wire(task=task, history_length=history_length),
            seq=task.last_seq,
            state=task.state,
        )


@dataclass(frozen=True)
class StoredEvent:
    """One row of the event log as a stream sends it."""

    seq: int
    state: str
    payload: dict[str, Any]


def task_events_after(*, task_id: uuid.UUID, after_seq: int, limit: int = 500) -> list[StoredEvent]:
    """Return the task's events with seq > after_seq, oldest first (caller checked access)."""
    rows = (
        TaskEvent.objects.filter(task_id=task_id, seq__gt=after_seq)
        .order_by("seq")
        .values_list("seq", "state", "payload")[:limit]
    )
    return [StoredEvent(seq=seq, state=state, payload=payload) for seq, state, payload in rows]
