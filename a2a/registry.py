"""Where agents and jobs plug in: filled from above in ``AppConfig.ready()``, called from below.

The services and the core never import an agent or a jobs module. Each agent's app registers
its agent class here (``agent_register``) and each app its queueable jobs (``job_register``);
services then call an agent's hooks through ``agent_get``/``agent_find`` and queue a job by
name through ``job_queue``. ``AgentHooks`` is everything the services, the core and the jobs
call on an agent, so they are typed against it, never against ``a2a/agents``.
"""

from __future__ import annotations

import enum
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from a2a.models import Task
from a2a.protocol import types as wire
from accounts.models import User

logger = logging.getLogger(__name__)


class StepResult(enum.Enum):
    """What a run asks of the job: run the agent again (the next step), or nothing."""

    DONE = "done"
    CONTINUE = "continue"


@dataclass(frozen=True)
class FollowUp:
    """What an agent made of a follow-up: run the task again, or keep waiting.

    ``ask`` is the status message (its parts) the task keeps waiting with, when the agent
    has something to say about this follow-up (e.g. that it could not tell what it decides);
    without it the task keeps the status message it had.
    """

    resume: bool
    ask: list[dict[str, Any]] | None = None


class AgentHooks(Protocol):
    """What webcap calls on an agent; ``a2a.agents.Agent`` implements it with defaults."""

    name: ClassVar[str]
    description: ClassVar[str]
    skills: ClassVar[list[dict[str, Any]]]
    input_modes: ClassVar[list[str]]
    output_modes: ClassVar[list[str]]
    # Whether a new message (no taskId) repeating an earlier one's messageId is a retry,
    # answered with the first result (docs/protocol.md, "Idempotency").
    repeated_message_id_is_retry: ClassVar[bool]

    def reply(self, message: wire.Message) -> list[dict[str, Any]] | None:
        """Answer a new message directly with these parts (no task), or None to start one."""
        ...

    def on_follow_up(self, task: Task, message: wire.Message, *, sender: User) -> FollowUp:
        """Take a follow-up to an interrupted task (locked); say whether to run again."""
        ...

    def on_cancel(self, task: Task) -> None:
        """Clean up after a cancel, in the cancel's transaction (the task is locked)."""
        ...

    def outcome_parts(self, task: Task) -> list[dict[str, Any]]:
        """Parts to add to a final status message webcap writes (a cancel, a failed job)."""
        ...

    def warm_up(self) -> None:
        """Load what the first run would otherwise load."""
        ...

    # ``run`` is an a2a.agents.TaskRun, which reports through the services that import this
    # module: it cannot be named here.
    def run(self, run: Any) -> StepResult | None:
        """Work on the task; end in a final or interrupted state through ``run``."""
        ...


class Job(Protocol):
    """A job a worker runs: a Celery task (``@shared_task``) of some app's ``jobs.py``."""

    def delay(self, *args: Any) -> object:
        """Queue one run of the job with these (primitive) arguments."""
        ...


AGENTS: dict[str, type[AgentHooks]] = {}
JOBS: dict[str, Job] = {}


def agent_register(agent_class: type[AgentHooks]) -> None:
    """Make the agent available under its name (refused when another has that name).

    Registering the same class again does nothing: Django may run ``ready()`` twice.
    """
    known = AGENTS.get(agent_class.name)
    if known is not None and known is not agent_class:
        raise ImproperlyConfigured(
            f"Two agents are named {agent_class.name!r}: {known.__module__}.{known.__name__} "
            f"and {agent_class.__module__}.{agent_class.__name__}."
        )
    AGENTS[agent_class.name] = agent_class


def agent_get(name: str) -> AgentHooks:
    """Return an instance of the named agent (KeyError when there is none)."""
    return AGENTS[name]()


def agent_find(name: str) -> AgentHooks | None:
    """Return an instance of the named agent; None when this server has none by that name."""
    agent_class = AGENTS.get(name)
    return agent_class() if agent_class is not None else None


def agent_warm_up() -> None:
    """Let the configured agent load its libraries in the background, off the first task."""

    def warm() -> None:
        try:
            agent_get(settings.WEBCAP_AGENT).warm_up()
        except Exception:
            # The first task loads it again and reports a real failure on that task.
            logger.exception("Warming up agent %s failed", settings.WEBCAP_AGENT)

    threading.Thread(target=warm, name="agent-warm-up", daemon=True).start()


def job_register(name: str, job: Job) -> None:
    """Let services queue the job by name (refused when another job has that name)."""
    known = JOBS.get(name)
    if known is not None and known is not job:
        raise ImproperlyConfigured(f"Two jobs are registered as {name!r}.")
    JOBS[name] = job


def job_queue(name: str, *args: str) -> None:
    """Queue the named job now; services call it from ``transaction.on_commit``.

    A job queued inside a transaction could run before the commit and miss the rows it
    was queued for, so services never call this while their transaction is open.
    """
    try:
        job = JOBS[name]
    except KeyError:
        raise LookupError(f"No job is registered as {name!r}.") from None
    job.delay(*args)


# Called in the cancel's transaction (the task locked), after the agent's own on_cancel:
# what other apps tie to a task and must end with it, whatever its agent (a delegation's
# remote task). A hook queues its slow work on commit; it never calls out in the request.
CANCEL_HOOKS: list[Callable[[Task], None]] = []


def cancel_hook_register(hook: Callable[[Task], None]) -> None:
    """Call hook whenever a task is canceled (registering the same hook again does nothing)."""
    if hook not in CANCEL_HOOKS:
        CANCEL_HOOKS.append(hook)
