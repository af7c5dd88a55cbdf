"""Celery jobs of the A2A app. Every task runs in ``task_run_job``, in every mode."""

from __future__ import annotations

import contextlib
import logging
import threading
import uuid
from typing import Any

from celery import shared_task
from django.conf import settings
from django.db import OperationalError, connection

from a2a.agents import StepResult, TaskRun, TaskStopped
from a2a.models import INTERRUPTED_STATES, TERMINAL_STATES, Task, TaskState
from a2a.registry import AGENTS, AgentHooks, agent_get
from a2a.services.artifacts import artifact_files_purge
from a2a.services.push import push_deliveries_drain, push_deliveries_resume
from a2a.services.tasks import (
    TaskStateError,
    task_lease_claim,
    task_lease_release,
    task_lease_renew,
    task_lease_wait,
    task_transition,
    tasks_requeue_orphaned,
)

logger = logging.getLogger(__name__)

RUNNABLE_STATES = frozenset({TaskState.SUBMITTED, TaskState.WORKING})
SETTLED_STATES = TERMINAL_STATES | INTERRUPTED_STATES
# A job acknowledged only when done, retried with backoff while the database is unreachable.
RETRYING: dict[str, Any] = {
    "acks_late": True,
    "autoretry_for": (OperationalError,),
    "retry_backoff": True,
    "retry_backoff_max": 60,
    "max_retries": 5,
}


class _Heartbeat(threading.Thread):
    """Renews a run lease while the agent works, so only a dead worker's lease runs out."""

    def __init__(self, task_id: str, token: str, seconds: float) -> None:
        super().__init__(name=f"lease-{task_id}", daemon=True)
        self.task_id, self.token, self.seconds = task_id, token, seconds
        self.stopped = threading.Event()

    def run(self) -> None:
        try:
            while not self.stopped.wait(self.seconds / 3):
                if not task_lease_renew(
                    task_id=self.task_id, token=self.token, seconds=self.seconds
                ):
                    logger.warning("Task %s: run lease lost", self.task_id)
                    return
        finally:
            connection.close()


@shared_task(**RETRYING)
def task_run_job(task_id: str) -> None:
    """Run the task's agent; a task that is not submitted or working is left alone.

    One job at a time runs a task (the run lease); another that finds it taken comes back
    when it runs out. Running twice is harmless for a finished task (nothing happens) and
    for an interrupted one (it waits for input). An agent that asks to CONTINUE gets a new
    job for its next step. A task the agent leaves neither final nor interrupted otherwise
    is failed, so no task hangs in working without a worker.
    """
    task = Task.objects.select_related("context").filter(pk=task_id).first()
    if task is None or task.state not in RUNNABLE_STATES:
        return
    if task.agent not in AGENTS:
        _fail(task_id, f"Agent {task.agent!r} is not available on this server.")
        return
    seconds = settings.WEBCAP_RUN_LEASE_SECONDS
    token = uuid.uuid4().hex
    if not task_lease_claim(task_id=task_id, token=token, seconds=seconds):
        wait = task_lease_wait(task_id=task_id)
        logger.info("Task %s is being run by another job; trying again in %.1f s", task_id, wait)
        task_run_job.apply_async(args=(task_id,), countdown=max(wait, 1.0))
        return
    heartbeat = _Heartbeat(task_id, token, seconds)
    heartbeat.start()
    try:
        outcome = _run_agent(task)
    finally:
        heartbeat.stopped.set()
        heartbeat.join(5)
        task_lease_release(task_id=task_id, token=token)
    if outcome is StepResult.CONTINUE:
        task_run_job.delay(task_id)


def _run_agent(task: Task) -> StepResult | None:
    task_id = str(task.id)
    run = TaskRun(task)
    agent = agent_get(task.agent)
    try:
        outcome = agent.run(run)
    except TaskStopped:
        logger.info("Task %s stopped while its agent ran (canceled or finished)", task_id)
        return None
    except OperationalError:
        raise
    except Exception:
        logger.exception("Agent %s failed on task %s", task.agent, task_id)
        _fail(task_id, "The agent failed with an internal error.", agent=agent, task=task)
        return None
    if outcome is StepResult.CONTINUE:
        return outcome
    # Ended or interrupted by this run: a client may already have answered an interrupted
    # task, so the task's state now (submitted again) says nothing about this run.
    if run.reported not in SETTLED_STATES and run.state() in RUNNABLE_STATES:
        logger.error("Agent %s returned without ending task %s", task.agent, task_id)
        _fail(task_id, "The agent stopped without a result.", agent=agent, task=task)
    return None


def _fail(
    task_id: str, text: str, *, agent: AgentHooks | None = None, task: Task | None = None
) -> None:
    parts: list[dict[str, Any]] = [{"text": text}]
    if agent is not None and task is not None:
        try:
            parts += agent.outcome_parts(task)
        except OperationalError:
            raise
        except Exception:
            # The task fails all the same, with the text alone.
            logger.exception("Agent %s could not describe failed task %s", task.agent, task_id)
    with contextlib.suppress(TaskStateError):
        task_transition(task_id=task_id, state=TaskState.FAILED, message_parts=parts)


@shared_task(**RETRYING)
def push_deliver_job(config_id: str) -> None:
    """Deliver a webhook's pending events in order; come back when a retry is due."""
    wait = push_deliveries_drain(config_pk=config_id)
    if wait is not None:
        if push_deliver_job.app.conf.task_always_eager:
            # Eager mode (tests) ignores countdowns: rescheduling would recurse at once until
            # the stack ran out. The periodic sweep resumes the delivery instead.
            return
        push_deliver_job.apply_async(args=(config_id,), countdown=max(wait, 0.05))


@shared_task(acks_late=True)
def tasks_orphaned_sweep_job() -> None:
    """Periodic safety net: run again the tasks whose worker died or whose job was lost."""
    tasks_requeue_orphaned(submitted_after=settings.WEBCAP_ORPHAN_SUBMITTED_SECONDS)


@shared_task(acks_late=True)
def push_deliveries_sweep_job() -> None:
    """Periodic safety net: restart delivery for webhooks whose job was lost."""
    push_deliveries_resume()


@shared_task(**RETRYING)
def artifact_files_purge_job() -> int:
    """Delete the files of tasks that ended more than ARTIFACT_RETENTION_DAYS ago."""
    return artifact_files_purge(days=settings.ARTIFACT_RETENTION_DAYS)
