"""Forwarding a remote task's events into the parent task, one by one, in order.

``Forwarder.handle`` gets each event of a delegation's stream on the worker's thread
(remote_agents/runner.py) and makes it an event of the parent through ``TaskRun`` (the a2a
services), with the delegation's ``last_event_id`` saved in the same transaction:

- a status update: a ``working`` status of the parent whose text names the agent;
- an artifact chunk: a chunk of the parent's artifact ``<agent>/<remote artifactId>``;
- ``input-required``/``auth-required``: the parent asks the same question, prefixed with the
  agent's name (remote_agents/delegating.py then suspends the call: no worker waits);
- a final state: kept for the call's result.

Every forwarded event carries ``{"webcap.delegation": {"agent", "remoteTaskId",
"delegationId"}}`` in its metadata.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from django.db import transaction

from a2a.agents.base import TaskRun
from a2a.client import (
    MalformedResponse,
    StreamEvent,
)
from a2a.protocol import types as wire
from a2a.protocol.states import INTERRUPTED_STATES, TERMINAL_STATES, state_from_wire
from remote_agents.delegation import (
    METADATA_KEY,
    delegation_progress,
)
from remote_agents.models import Delegation
from remote_agents.runner import (
    Verdict,
    parts_data,
    parts_text,
)

logger = logging.getLogger(__name__)

# Namespace of the messageIds sent to remote agents (a re-sent message keeps its id, so a
# remote that deduplicates on messageId takes it once).
MESSAGE_IDS = uuid.UUID("6f1d7d9e-6c7e-4d0b-9a51-1d9ee2c1a7f3")
QUESTION = "question"


def message_id(delegation: Delegation, what: str) -> str:
    return str(uuid.uuid5(MESSAGE_IDS, f"{delegation.id}/{what}"))


class Forwarder:
    """Handles the events of one delegation's stream on the worker's thread, in order."""

    def __init__(self, *, run: TaskRun, delegation: Delegation) -> None:
        self.run = run
        self.delegation = delegation
        self.agent = delegation.remote_agent
        self.final: wire.Task | None = None
        self.reply: wire.Message | None = None
        self.asked = False
        self.chunks: dict[str, list[wire.Part]] = {}

    def metadata(self, **extra: Any) -> dict[str, Any]:
        return {
            METADATA_KEY: {
                "agent": self.agent.name,
                "remoteTaskId": self.delegation.remote_task_id,
                "delegationId": str(self.delegation.id),
                **extra,
            }
        }

    def handle(self, event: StreamEvent) -> tuple[Verdict, str]:
        response = self.delegation_ids(event)
        event_id = event.event_id
        if response.task is not None:
            state = str(response.task.status.state)
            self.save(state=state, last_event_id=event_id)
            if _is_final(state):
                self.final = response.task
                if state_from_wire(state) in INTERRUPTED_STATES:
                    self.ask(response.task.status, event_id)
        elif response.message is not None:
            self.reply = response.message
            self.save(last_event_id=event_id)
        elif response.status_update is not None:
            self.status(response.status_update.status, event_id)
        elif response.artifact_update is not None:
            self.artifact(response.artifact_update, event_id)
        return Verdict.GO, self.delegation.remote_task_id

    def delegation_ids(self, event: StreamEvent) -> wire.StreamResponse:
        response = event.response
        found = response.task or response.status_update or response.artifact_update
        if found is not None:
            task_id = found.id if isinstance(found, wire.Task) else found.task_id
            context_id = found.context_id
            if not self.delegation.remote_task_id:
                with transaction.atomic():
                    delegation_progress(
                        delegation=self.delegation,
                        remote_task_id=task_id,
                        remote_context_id=context_id,
                    )
            elif task_id != self.delegation.remote_task_id:
                raise MalformedResponse(
                    f"an event of task {task_id!r}, not of {self.delegation.remote_task_id!r}"
                )
        return response

    def save(self, *, state: str | None = None, last_event_id: str | None = None) -> None:
        with transaction.atomic():
            delegation_progress(
                delegation=self.delegation, state=state, last_event_id=last_event_id
            )

    def status(self, status: wire.TaskStatus, event_id: str | None) -> None:
        state = str(status.state)
        if _is_final(state):
            if state_from_wire(state) in INTERRUPTED_STATES:
                self.ask(status, event_id)
            else:
                self.final = wire.Task(
                    id=self.delegation.remote_task_id,
                    context_id=self.delegation.remote_context_id or "-",
                    status=status,
                )
                self.save(state=state, last_event_id=event_id)
            return
        said = parts_text(status.message.parts if status.message else None).strip()
        text = f"{self.agent.name}: {said}" if said else f"{self.agent.name} is working."
        self.run.working(
            text,
            metadata=self.metadata(remoteState=state),
            in_transaction=lambda: delegation_progress(
                delegation=self.delegation, state=state, last_event_id=event_id
            ),
        )

    def ask(self, status: wire.TaskStatus, event_id: str | None) -> None:
        """Put the remote's question to the parent's client, in the agent's name."""
        state = str(status.state)
        said = parts_text(status.message.parts if status.message else None).strip()
        kind = "authorization" if state == "TASK_STATE_AUTH_REQUIRED" else "input"
        text = f"{self.agent.name} asks: {said}" if said else f"{self.agent.name} needs {kind}."
        parts: list[dict[str, Any]] = [{"text": text}]
        parts += [
            {"data": data} for data in parts_data(status.message.parts if status.message else None)
        ]
        # The parent takes the remote's state: auth-required stays auth-required.
        pause = self.run.auth_required if kind == "authorization" else self.run.input_required
        pause(
            parts=parts,
            metadata=self.metadata(remoteState=state, kind=QUESTION),
            in_transaction=lambda: delegation_progress(
                delegation=self.delegation, state=state, last_event_id=event_id
            ),
        )
        self.asked = True

    def artifact(self, update: wire.TaskArtifactUpdateEvent, event_id: str | None) -> None:
        remote = update.artifact
        artifact_id = f"{self.agent.name}/{remote.artifact_id}"[:256]
        parts = [part.dump() for part in remote.parts]
        self.run.artifact(
            artifact_id=artifact_id,
            name=remote.name or remote.artifact_id,
            parts=parts,
            append=bool(update.append),
            last_chunk=bool(update.last_chunk),
            metadata=self.metadata(remoteArtifactId=remote.artifact_id),
            in_transaction=lambda: delegation_progress(
                delegation=self.delegation, last_event_id=event_id
            ),
        )
        kept = self.chunks.setdefault(remote.artifact_id, []) if update.append else []
        self.chunks[remote.artifact_id] = [*kept, *remote.parts]

    def whole(self, task: wire.Task) -> None:
        """Forward each artifact of an ended remote task whole, replacing what was sent."""
        for remote in task.artifacts or []:
            self.artifact(
                wire.TaskArtifactUpdateEvent(
                    task_id=task.id,
                    context_id=task.context_id,
                    artifact=remote,
                    append=False,
                    last_chunk=True,
                ),
                None,
            )


def _is_final(state: str) -> bool:
    stored = state_from_wire(state)
    return stored in TERMINAL_STATES or stored in INTERRUPTED_STATES
