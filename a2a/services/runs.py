"""Task runs: queueing a task's run, cancel, the requeue sweeps and the run lease.

A task runs in a job (``TASK_RUN_JOB``, queued by name through a2a.registry once the
transaction that made it runnable commits); the run lease lets one job at a time run it.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from typing import Any

import structlog
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from a2a.models import Task, TaskEvent, TaskState
from a2a.protocol import convert
from a2a.protocol.errors import TaskNotCancelableError
from a2a.registry import CANCEL_HOOKS, agent_find, job_queue
from a2a.selectors import CANCEL, task_get_for_user
from a2a.services.transitions import _transition
from accounts.models import User
from audit.services import audit_record

# The task services log under one name (a2a/services/tasks.py names them all): log
# filters and alerts written for it keep working.
logger = logging.getLogger("a2a.services.tasks")

# The name a2a/apps.py registers a2a.jobs.task_run_job under.
TASK_RUN_JOB = "task_run"


def _task_run_enqueue(task_id: uuid.UUID) -> None:
    # The job's records name the task even when no request bound it (sweeps, restarts).
    with structlog.contextvars.bound_contextvars(task_id=str(task_id)):
        job_queue(TASK_RUN_JOB, str(task_id))


def task_run_queue(task_id: uuid.UUID) -> None:
    """Queue a run of the task once the transaction commits (the job must see the commit)."""
    transaction.on_commit(lambda: _task_run_enqueue(task_id))


def task_requeue_locked(*, task: Task, actor: User | None = None) -> TaskEvent:
    """Put an interrupted task (locked by the caller) back in the queue to run again."""
    event = _transition(task=task, state=TaskState.SUBMITTED, actor=actor)
    task_run_queue(task.id)
    return event


@transaction.atomic(durable=True)
def task_cancel(*, user: User, task_id: str) -> Task:
    """Cancel a task the user may cancel; CANCELED is stored at once, the job notices it."""
    task = task_get_for_user(user=user, task_id=task_id, for_update=True, permission=CANCEL)
    structlog.contextvars.bind_contextvars(task_id=str(task.id), context_id=task.context.key)
    if task.is_terminal:
        # A2A §3.1.5: a task in a terminal state is not cancelable.
        raise TaskNotCancelableError(
            f"Task {task.id} is already {task.state} and cannot be canceled",
            metadata={"taskId": str(task.id), "state": convert.state_to_wire(task.state)},
        )
    agent = agent_find(task.agent)
    outcome: list[dict[str, Any]] = []
    if agent is not None:
        agent.on_cancel(task)
        outcome = agent.outcome_parts(task)
    for hook in CANCEL_HOOKS:
        hook(task)
    audit_record(action="task.cancel", actor=user, target=task, extra={"from": task.state})
    _transition(
        task=task,
        state=TaskState.CANCELED,
        message_parts=[{"text": "Canceled at the client's request."}, *outcome],
        actor=user,
    )
    logger.info("Task %s canceled by user %s", task.id, user.pk)
    return task


def tasks_requeue_unfinished() -> int:
    """Enqueue a run of every task left submitted or working; return how many.

    An in-memory broker forgets queued jobs when the process stops; the database does not,
    so on start the embedded server hands these tasks to its worker again.
    """
    task_ids = list(
        Task.objects.filter(state__in=[TaskState.SUBMITTED, TaskState.WORKING]).values_list(
            "id", flat=True
        )
    )
    for task_id in task_ids:
        _task_run_enqueue(task_id)
    if task_ids:
        logger.info("Re-enqueued %d unfinished task(s)", len(task_ids))
    return len(task_ids)


def tasks_requeue_orphaned(*, submitted_after: float) -> int:
    """Enqueue a run of every task whose job was lost; return how many.

    A worker killed mid-step leaves its task working with a lease nobody renews; the broker
    gives the unacknowledged job back only after its visibility timeout (an hour, longer than
    any step). This sweep, every few seconds from ``celery beat``, finds such a task as soon
    as its lease ran out, and also a task still submitted ``submitted_after`` seconds after
    it was sent (its job lost before a worker took it). Running a task twice is harmless: the
    lease lets one job at a time run it, and a finished task is left alone.
    """
    now = timezone.now()
    orphaned = Q(state=TaskState.WORKING, lease_until__lt=now) | Q(
        state=TaskState.SUBMITTED,
        lease_until__isnull=True,
        status_timestamp__lt=now - timedelta(seconds=submitted_after),
    )
    task_ids = list(Task.objects.filter(orphaned).values_list("id", flat=True))
    for task_id in task_ids:
        _task_run_enqueue(task_id)
    if task_ids:
        logger.warning("Re-enqueued %d task(s) whose job was lost", len(task_ids))
    return len(task_ids)


# --- The run lease --------------------------------------------------------------------------------


def task_lease_claim(*, task_id: uuid.UUID | str, token: str, seconds: float) -> bool:
    """Take the task's run lease for token unless another live holder has it."""
    now = timezone.now()
    claimed = (
        Task.objects.filter(pk=task_id)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now) | Q(lease_token=token))
        .update(lease_token=token, lease_until=now + timedelta(seconds=seconds))
    )
    return claimed == 1


def task_lease_renew(*, task_id: uuid.UUID | str, token: str, seconds: float) -> bool:
    """Extend a lease this holder still has; False when it was lost."""
    renewed = Task.objects.filter(pk=task_id, lease_token=token).update(
        lease_until=timezone.now() + timedelta(seconds=seconds)
    )
    return renewed == 1


def task_lease_release(*, task_id: uuid.UUID | str, token: str) -> None:
    """Give the lease back (only if this holder still has it)."""
    Task.objects.filter(pk=task_id, lease_token=token).update(lease_token="", lease_until=None)


def task_lease_wait(*, task_id: uuid.UUID | str) -> float:
    """Return the seconds until the task's current lease runs out (0 when free)."""
    until = Task.objects.filter(pk=task_id).values_list("lease_until", flat=True).first()
    if until is None:
        return 0.0
    return max((until - timezone.now()).total_seconds(), 0.0)
