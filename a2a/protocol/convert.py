"""Converters between stored rows and wire objects in ProtoJSON form.

Rows already hold parts and metadata exactly as they travel, so converters assemble plain
dicts instead of validating them again; ``tests/a2a/test_convert.py`` checks every output
against the pydantic wire types so the two descriptions cannot drift apart.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from a2a.models import Artifact, Message, Role, Task
from a2a.protocol import types as wire

# One of the converters, defined with the states it spells.
from a2a.protocol.states import state_to_wire as state_to_wire


def format_timestamp(value: datetime) -> str:
    """Return a UTC ISO-8601 timestamp with milliseconds and Z (A2A §5.6.1)."""
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


_ROLE_TO_WIRE = {Role.USER: wire.Role.USER.value, Role.AGENT: wire.Role.AGENT.value}


def message_to_wire(message: Message, *, context_key: str) -> dict[str, Any]:
    """Return the wire Message for a stored message."""
    data: dict[str, Any] = {
        "messageId": message.message_id,
        "contextId": context_key,
        "role": _ROLE_TO_WIRE[Role(message.role)],
        "parts": message.parts,
    }
    if message.task_id is not None:
        data["taskId"] = str(message.task_id)
    if message.metadata:
        data["metadata"] = message.metadata
    if message.extensions:
        data["extensions"] = message.extensions
    if message.reference_task_ids:
        data["referenceTaskIds"] = message.reference_task_ids
    return data


def artifact_to_wire(artifact: Artifact) -> dict[str, Any]:
    """Return the wire Artifact for a stored artifact with every chunk joined."""
    data: dict[str, Any] = {"artifactId": artifact.artifact_id, "parts": artifact.parts}
    if artifact.name:
        data["name"] = artifact.name
    if artifact.description:
        data["description"] = artifact.description
    if artifact.metadata:
        data["metadata"] = artifact.metadata
    if artifact.extensions:
        data["extensions"] = artifact.extensions
    return data


def status_to_wire(task: Task, *, context_key: str) -> dict[str, Any]:
    """Return the wire TaskStatus of a task (status_message must be loaded or None)."""
    status: dict[str, Any] = {
        "state": state_to_wire(task.state),
        "timestamp": format_timestamp(task.status_timestamp),
    }
    if task.status_message is not None:
        status["message"] = message_to_wire(task.status_message, context_key=context_key)
    return status


def task_to_wire(
    task: Task,
    *,
    context_key: str,
    history: list[dict[str, Any]] | None,
    artifacts: list[dict[str, Any]] | None,
) -> dict[str, Any]:
    """Return the wire Task from wire history and artifacts; each left out when None or empty.

    A task keeps both in wire form (``Task.wire_history``, ``Task.wire_artifacts``); the
    lists are copied, so the answer never shares a list with the row it came from.
    """
    data: dict[str, Any] = {
        "id": str(task.id),
        "contextId": context_key,
        "status": status_to_wire(task, context_key=context_key),
    }
    if artifacts is not None:
        # ListTasks with includeArtifacts wants the field even when empty (A2A §3.1.4).
        data["artifacts"] = list(artifacts)
    if history:
        data["history"] = list(history)
    if task.metadata:
        data["metadata"] = task.metadata
    return data


def status_update_to_wire(task: Task, *, context_key: str) -> dict[str, Any]:
    """Return the StreamResponse announcing the task's current status."""
    return {
        "statusUpdate": {
            "taskId": str(task.id),
            "contextId": context_key,
            "status": status_to_wire(task, context_key=context_key),
        }
    }


def artifact_update_to_wire(
    task: Task,
    *,
    context_key: str,
    chunk: dict[str, Any],
    append: bool,
    last_chunk: bool,
) -> dict[str, Any]:
    """Return the StreamResponse carrying one artifact chunk."""
    return {
        "artifactUpdate": {
            "taskId": str(task.id),
            "contextId": context_key,
            "artifact": chunk,
            "append": append,
            "lastChunk": last_chunk,
        }
    }
