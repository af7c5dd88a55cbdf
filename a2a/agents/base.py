"""The small interface every agent implements, and the handle a running task reports through.

An agent's ``run`` is called by the job with a ``TaskRun``. Each report (progress, an
artifact chunk, a final state) becomes one TaskEvent before the call returns. When the task
was canceled or otherwise ended meanwhile, the report raises ``TaskStopped`` and the agent
unwinds; the job treats that as a normal end.
"""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar

from a2a.models import Message, Role, Task, TaskState
from a2a.protocol import types as wire
from a2a.registry import FollowUp, StepResult
from a2a.services.tasks import TaskStateError, task_artifact_update, task_transition
from accounts.models import User

# StepResult and FollowUp live with the hooks they answer (a2a.registry); agents import them
# from here.
__all__ = ["Agent", "FollowUp", "StepResult", "TaskRun", "TaskStopped"]


class TaskStopped(Exception):
    """The task reached a state in which the agent may not report any more."""


class TaskRun:
    """One run of an agent over one task: its input, and the calls that report progress."""

    def __init__(self, task: Task) -> None:
        self.task = task
        self.task_id: uuid.UUID = task.id
        self.context_id: str = task.context.key
        self.owner_id: int = task.owner_id
        # The last state this run reported: the job reads it, not the task's state now, which
        # a follow-up may already have moved on.
        self.reported: str | None = None

    def history(self) -> list[Message]:
        """Return the task's messages, oldest first."""
        return list(Message.objects.filter(task_id=self.task_id).order_by("position"))

    def latest_user_message(self) -> Message | None:
        """Return the newest message from the user."""
        return (
            Message.objects.filter(task_id=self.task_id, role=Role.USER)
            .order_by("-position")
            .first()
        )

    def user_text(self) -> str:
        """Return the text parts of the newest user message, joined by newlines."""
        message = self.latest_user_message()
        if message is None:
            return ""
        return "\n".join(part["text"] for part in message.parts if "text" in part)

    def state(self) -> str:
        """Return the task's current state as stored."""
        return Task.objects.values_list("state", flat=True).get(pk=self.task_id)

    def _transition(
        self,
        state: str,
        text: str | None,
        parts: list[dict[str, Any]] | None,
        *,
        metadata: dict[str, Any] | None = None,
        in_transaction: Callable[[], None] | None = None,
    ) -> None:
        message_parts = parts if parts is not None else ([{"text": text}] if text else None)
        try:
            task_transition(
                task_id=self.task_id,
                state=state,
                message_parts=message_parts,
                message_metadata=metadata,
                in_transaction=in_transaction,
            )
        except TaskStateError as exc:
            raise TaskStopped(str(exc)) from exc
        self.reported = state

    def working(
        self,
        text: str | None = None,
        *,
        metadata: dict[str, Any] | None = None,
        in_transaction: Callable[[], None] | None = None,
    ) -> None:
        """Report that the agent is working, optionally with a progress message.

        ``metadata`` goes on the progress message; ``in_transaction`` runs in the
        transaction that stores the report (the agent's own record of having sent it).
        """
        self._transition(
            TaskState.WORKING, text, None, metadata=metadata, in_transaction=in_transaction
        )

    def artifact(
        self,
        *,
        parts: list[dict[str, Any]],
        artifact_id: str,
        name: str | None = None,
        append: bool = False,
        last_chunk: bool = False,
        metadata: dict[str, Any] | None = None,
        in_transaction: Callable[[], None] | None = None,
    ) -> None:
        """Report an artifact, or one chunk of it (append joins it to the earlier ones)."""
        artifact: dict[str, Any] = {"artifactId": artifact_id, "parts": parts}
        if name:
            artifact["name"] = name
        if metadata:
            artifact["metadata"] = metadata
        try:
            task_artifact_update(
                task_id=self.task_id,
                artifact=artifact,
                append=append,
                last_chunk=last_chunk,
                in_transaction=in_transaction,
            )
        except TaskStateError as exc:
            raise TaskStopped(str(exc)) from exc

    def complete(
        self, text: str | None = None, *, parts: list[dict[str, Any]] | None = None
    ) -> None:
        """End the task successfully."""
        self._transition(TaskState.COMPLETED, text, parts)

    def fail(self, text: str | None = None, *, parts: list[dict[str, Any]] | None = None) -> None:
        """End the task with an error the client can read."""
        self._transition(TaskState.FAILED, text, parts)

    def reject(self, text: str | None = None, *, parts: list[dict[str, Any]] | None = None) -> None:
        """Decline the task."""
        self._transition(TaskState.REJECTED, text, parts)

    def input_required(
        self,
        text: str | None = None,
        *,
        parts: list[dict[str, Any]] | None = None,
        metadata: dict[str, Any] | None = None,
        in_transaction: Callable[[], None] | None = None,
    ) -> None:
        """Pause the task until the client sends more input; no worker waits meanwhile."""
        self._transition(
            TaskState.INPUT_REQUIRED,
            text,
            parts,
            metadata=metadata,
            in_transaction=in_transaction,
        )

    def auth_required(
        self,
        text: str | None = None,
        *,
        parts: list[dict[str, Any]] | None = None,
        metadata: dict[str, Any] | None = None,
        in_transaction: Callable[[], None] | None = None,
    ) -> None:
        """Pause the task until the client authorizes something (A2A auth-required); the
        client's next message runs the task again, as after input-required."""
        self._transition(
            TaskState.AUTH_REQUIRED,
            text,
            parts,
            metadata=metadata,
            in_transaction=in_transaction,
        )


class Agent(ABC):
    """An agent webcap can run (the a2a.registry.AgentHooks), with the optional hooks' defaults.

    Subclasses describe themselves for the agent card and register in ``AppConfig.ready()``.
    """

    name: ClassVar[str]
    description: ClassVar[str]
    skills: ClassVar[list[dict[str, Any]]]
    input_modes: ClassVar[list[str]] = ["text/plain"]
    output_modes: ClassVar[list[str]] = ["text/plain"]
    repeated_message_id_is_retry: ClassVar[bool] = True

    def reply(self, message: wire.Message) -> list[dict[str, Any]] | None:
        """Answer a new message directly with these parts (no task), or None to start one.

        Called in the request, before any task exists, so it must be quick and must not
        block; the default always starts a task.
        """
        return None

    def on_follow_up(self, task: Task, message: wire.Message, *, sender: User) -> FollowUp:
        """Take a follow-up to an interrupted task (locked); say whether to run again.

        ``sender`` is who sent it: the owner, or someone allowed to act on the task (an
        approver deciding tool calls of a task shared with them, an admin). Runs in the
        transaction that stores the message, before the task is resumed; an A2AError raised
        here refuses the message and stores nothing.
        """
        return FollowUp(resume=True)

    def on_cancel(self, task: Task) -> None:  # noqa: B027 (optional hook, not abstract)
        """Clean up after a cancel, in the cancel's transaction (the task is locked)."""

    def outcome_parts(self, task: Task) -> list[dict[str, Any]]:
        """Parts to add to a final status message webcap writes (a cancel, a failed job).

        Called in the transaction that ends the task, after ``on_cancel``; the default adds
        nothing.
        """
        return []

    def warm_up(self) -> None:  # noqa: B027 (optional hook, not abstract)
        """Load what the first run would otherwise load (a worker calls it once, in a thread)."""

    @abstractmethod
    def run(self, run: TaskRun) -> StepResult | None:
        """Work on the task; end in a final or interrupted state through ``run``.

        A multi-step agent does one short step and returns CONTINUE; the job then runs it
        again as a new job, so every step can be killed and retried on its own.
        """
