"""The task state machine: the one place a task's state changes.

Every change to a task happens under its row lock, appends one TaskEvent in the same
transaction, writes its audit event in that transaction too, and leaves work (jobs) and
fan-out (doorbells) to ``on_commit``. Who may do what with a task is checked by the
selectors (``task_get_for_user``) before anything changes.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from a2a.metrics import task_transition_record
from a2a.models import (
    TERMINAL_STATES,
    EventKind,
    Message,
    Role,
    Task,
    TaskEvent,
    TaskState,
)
from a2a.protocol import convert
from a2a.services.events import event_append
from accounts.models import User
from audit.services import audit_record

# The state machine (A2A §4.1.3). Terminal states have no row: leaving them is impossible.
ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
    TaskState.SUBMITTED: frozenset(
        {
            TaskState.WORKING,
            TaskState.INPUT_REQUIRED,
            TaskState.AUTH_REQUIRED,
            TaskState.COMPLETED,
            TaskState.FAILED,
            TaskState.CANCELED,
            TaskState.REJECTED,
        }
    ),
    TaskState.WORKING: frozenset(
        {
            # working -> working carries a new progress message.
            TaskState.WORKING,
            TaskState.INPUT_REQUIRED,
            TaskState.AUTH_REQUIRED,
            TaskState.COMPLETED,
            TaskState.FAILED,
            TaskState.CANCELED,
            TaskState.REJECTED,
        }
    ),
    TaskState.INPUT_REQUIRED: frozenset(
        {
            # The agent took some input and still waits for more: an updated request.
            TaskState.INPUT_REQUIRED,
            # A follow-up message puts the task back in the queue.
            TaskState.SUBMITTED,
            TaskState.WORKING,
            TaskState.FAILED,
            TaskState.CANCELED,
            TaskState.REJECTED,
        }
    ),
    TaskState.AUTH_REQUIRED: frozenset(
        {
            TaskState.AUTH_REQUIRED,
            TaskState.SUBMITTED,
            TaskState.WORKING,
            TaskState.FAILED,
            TaskState.CANCELED,
            TaskState.REJECTED,
        }
    ),
}


class TaskStateError(Exception):
    """A transition the state machine does not allow, e.g. any change to a terminal task."""

    def __init__(self, task: Task, target: str) -> None:
        super().__init__(f"Task {task.id} cannot go from {task.state} to {target}")
        self.task_id = task.id
        self.current = task.state
        self.target = target


def _message_create(
    *,
    task: Task,
    role: Role,
    message_id: str,
    parts: list[dict[str, Any]],
    metadata: dict[str, Any] | None = None,
    extensions: list[str] | None = None,
    reference_task_ids: list[str] | None = None,
    new_task: bool = False,
    content_hash: str = "",
) -> Message:
    # A task created in this transaction has no message yet: no need to ask.
    position = (
        1
        if new_task
        else (Message.objects.filter(task=task).aggregate(m=Max("position"))["m"] or 0) + 1
    )
    message = Message.objects.create(
        owner_id=task.owner_id,
        context_id=task.context_id,
        task=task,
        message_id=message_id,
        role=role,
        parts=parts,
        metadata=metadata,
        extensions=extensions or None,
        reference_task_ids=reference_task_ids or None,
        position=position,
        content_hash=content_hash,
        # A new task's first message starts the turn of its first event.
        **({"seq": task.last_seq + 1} if new_task else {}),
    )
    # The caller saves it with the task (update_fields "wire_history"), as it saves last_seq.
    task.wire_history.append(convert.message_to_wire(message, context_key=task.context.key))
    return message


def _transition(
    *,
    task: Task,
    state: str,
    message_parts: list[dict[str, Any]] | None = None,
    actor: User | None = None,
    history_grew: bool = False,
    message_metadata: dict[str, Any] | None = None,
) -> TaskEvent:
    """Move a locked task to state, with an optional agent status message, and log it.

    The one place a task's state changes, so the one place ``task.state`` is audited: when
    the state differs (progress messages within a state are events, not transitions). The
    actor is the user whose request caused it; None when the agent moved the task.
    ``history_grew`` says the caller added a message to the task (``_message_create``) in
    this transaction, so its wire history is saved with the transition.
    """
    if state not in ALLOWED_TRANSITIONS.get(task.state, frozenset()):
        raise TaskStateError(task, state)
    previous = task.state
    task.status_message = None
    if message_parts:
        task.status_message = _message_create(
            task=task,
            role=Role.AGENT,
            message_id=str(uuid.uuid4()),
            parts=message_parts,
            metadata=message_metadata,
        )
    task.state = state
    task.status_timestamp = timezone.now()
    event = event_append(
        task=task,
        kind=EventKind.STATUS_UPDATE,
        payload=convert.status_update_to_wire(task, context_key=task.context.key),
    )
    fields = ["state", "status_message", "status_timestamp", "last_seq", "updated_at"]
    if message_parts or history_grew:
        fields.append("wire_history")
    task.save(update_fields=fields)
    if previous != state:
        audit_record(
            action="task.state", actor=actor, target=task, extra={"from": previous, "to": state}
        )
        task_transition_record(
            previous=previous,
            state=state,
            created_at=task.created_at,
            ended_at=task.status_timestamp,
            terminal=state in TERMINAL_STATES,
        )
    return event


def _lock_task(task_id: uuid.UUID | str, *, unread: str) -> Task:
    """Lock and read a task, all but ``unread``: the wire copy the change leaves alone."""
    return (
        Task.objects.select_related("context")
        .select_for_update(of=("self",))
        .defer(unread)
        .get(pk=task_id)
    )


@transaction.atomic(durable=True)
def task_transition(
    *,
    task_id: uuid.UUID | str,
    state: str,
    message_parts: list[dict[str, Any]] | None = None,
    message_metadata: dict[str, Any] | None = None,
    in_transaction: Callable[[], None] | None = None,
) -> TaskEvent:
    """Move a task to state with an optional agent status message (raises TaskStateError).

    ``in_transaction`` runs after the event is stored, in the same transaction: a caller's
    own record of having reported it (a delegation's last forwarded event) commits with it.
    """
    task = _lock_task(task_id, unread="wire_artifacts")
    event = _transition(
        task=task, state=state, message_parts=message_parts, message_metadata=message_metadata
    )
    if in_transaction is not None:
        in_transaction()
    return event


def task_metadata_put(*, task_id: uuid.UUID | str, key: str, value: Any) -> None:
    """Set one key of the task's metadata (its wire ``metadata``), in the caller's transaction.

    For what another app tells the task's clients about it (its sub-tasks at other agents):
    no event is appended; GetTask and ListTasks show the new value. ``None`` removes the key.
    """
    with transaction.atomic():
        task = Task.objects.select_for_update(of=("self",)).only("id", "metadata").get(pk=task_id)
        metadata = dict(task.metadata or {})
        if value is None:
            metadata.pop(key, None)
        else:
            metadata[key] = value
        if metadata != (task.metadata or {}):
            task.metadata = metadata or None
            task.save(update_fields=["metadata"])
