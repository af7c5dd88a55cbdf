"""The task event log: append under the task's row lock, publish after commit.

The channel layer is only a doorbell, rung once per event for each web process that follows
the task (its stream hub holds one place in the group for all its subscribers). Subscribers
that miss a ring, or see a gap in sequence numbers, read the missing events from the
TaskEvent table (see ``a2a/streams/``).
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from django.db import transaction

from a2a.models import EventKind, Task, TaskEvent
from a2a.services.push import push_deliveries_enqueue
from common.publish import group_send_blocking

logger = logging.getLogger(__name__)

# The channel-layer event type subscribers receive; its "seq" and "payload" are the row's.
DOORBELL_TYPE = "task.event"


def task_group(task_id: uuid.UUID | str) -> str:
    """Return the channel-layer group of a task's subscribers."""
    return f"a2a.task.{task_id}"


def event_append(*, task: Task, kind: EventKind, payload: dict[str, Any]) -> TaskEvent:
    """Append one event to a task locked by the caller's transaction; publish it on commit.

    The caller must save ``last_seq`` (``task.save(update_fields=[..., "last_seq"])``).
    """
    task.last_seq += 1
    event = TaskEvent.objects.create(
        task=task, seq=task.last_seq, kind=kind, state=task.state, payload=payload
    )
    if task.push_config_count:
        push_deliveries_enqueue(task=task, event=event)
    doorbell = {"type": DOORBELL_TYPE, "seq": event.seq, "state": event.state, "payload": payload}
    task_id = task.id
    transaction.on_commit(lambda: event_publish(task_id=task_id, doorbell=doorbell))
    return event


def event_publish(*, task_id: uuid.UUID, doorbell: dict[str, Any]) -> None:
    """Ring the task's group; a failure only costs subscribers a poll interval, so it is logged."""
    try:
        group_send_blocking(task_group(task_id), doorbell)
    except Exception:
        logger.warning(
            "Could not publish event %s of task %s", doorbell["seq"], task_id, exc_info=True
        )
