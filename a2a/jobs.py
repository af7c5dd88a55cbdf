"""Celery jobs of the A2A app. Every task runs in ``task_run_job``, in every mode."""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from celery import shared_task
from django.db import OperationalError

from a2a.agents import AGENTS, TaskRun, TaskStopped, agent_get
from a2a.models import Task, TaskState
from a2a.services.push import push_deliveries_drain, push_deliveries_resume
from a2a.services.tasks import TaskStateError, task_transition

logger = logging.getLogger(__name__)

RUNNABLE_STATES = frozenset({TaskState.SUBMITTED, TaskState.WORKING})
# A job acknowledged only when done, retried with backoff while the database is unreachable.
RETRYING: dict[str, Any] = {
    "acks_late": True,
    "autoretry_for": (OperationalError,),
    "retry_backoff": True,
    "retry_backoff_max": 60,
    "max_retries": 5,
}


@shared_task(**RETRYING)
def task_run_job(task_id: str) -> None:
    """Run the task's agent; a task that is not submitted or working is left alone.

    Running twice is harmless for a finished task (nothing happens) and for an interrupted
    one (it waits for input). A task the agent leaves neither final nor interrupted is
    failed, so no task hangs in working without a worker.
    """
    task = Task.objects.select_related("context").filter(pk=task_id).first()
    if task is None or task.state not in RUNNABLE_STATES:
        return
    if task.agent not in AGENTS:
        _fail(task_id, f"Agent {task.agent!r} is not available on this server.")
        return
    run = TaskRun(task)
    try:
        agent_get(task.agent).run(run)
    except TaskStopped:
        logger.info("Task %s stopped while its agent ran (canceled or finished)", task_id)
        return
    except OperationalError:
        raise
    except Exception:
        logger.exception("Agent %s failed on task %s", task.agent, task_id)
        _fail(task_id, "The agent failed with an internal error.")
        return
    if run.state() in RUNNABLE_STATES:
        logger.error("Agent %s returned without ending task %s", task.agent, task_id)
        _fail(task_id, "The agent stopped without a result.")


def _fail(task_id: str, text: str) -> None:
    with contextlib.suppress(TaskStateError):
        task_transition(task_id=task_id, state=TaskState.FAILED, message_parts=[{"text": text}])


@shared_task(**RETRYING)
def push_deliver_job(config_id: str) -> None:
    """Deliver a webhook's pending events in order; come back when a retry is due."""
    wait = push_deliveries_drain(config_pk=config_id)
    if wait is not None:
        push_deliver_job.apply_async(args=(config_id,), countdown=max(wait, 0.05))


@shared_task(acks_late=True)
def push_deliveries_sweep_job() -> None:
    """Periodic safety net: restart delivery for webhooks whose job was lost."""
    push_deliveries_resume()
