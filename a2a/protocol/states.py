"""The task states (A2A §4.1.3): the one list of them, their groups and their spellings.

A state is stored, and spoken by A2A 0.3 clients, as ``input-required``; A2A 1.0 names it
``TASK_STATE_INPUT_REQUIRED`` (a2a.proto's TaskState enum, which also has
``TASK_STATE_UNSPECIFIED`` for "no state"). ``state_to_wire`` and ``state_from_wire`` are
the only translation between the two. This module is pure: the model layer takes its choices
from here (``a2a.models.TaskState`` is this class), and so do the wire types.
"""

from __future__ import annotations

import enum
from typing import Any

from django.db.models import TextChoices


class TaskState(TextChoices):
    """Task lifecycle states as stored; their order is the model fields' choices."""

    SUBMITTED = "submitted"
    WORKING = "working"
    INPUT_REQUIRED = "input-required"
    AUTH_REQUIRED = "auth-required"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELED = "canceled"
    REJECTED = "rejected"


# A2A §4.1.3: a task in a terminal state never changes again.
TERMINAL_STATES = frozenset(
    {TaskState.COMPLETED, TaskState.FAILED, TaskState.CANCELED, TaskState.REJECTED}
)
# The agent waits for the client (more input, or an authorization) before it goes on.
INTERRUPTED_STATES = frozenset({TaskState.INPUT_REQUIRED, TaskState.AUTH_REQUIRED})


class WireTaskState(enum.StrEnum):
    """a2a.proto's TaskState in its order: TASK_STATE_ and the name of a stored state."""

    @staticmethod
    def _generate_next_value_(name: str, start: int, count: int, last_values: list[Any]) -> str:
        return f"TASK_STATE_{name}"

    UNSPECIFIED = enum.auto()
    SUBMITTED = enum.auto()
    WORKING = enum.auto()
    COMPLETED = enum.auto()
    FAILED = enum.auto()
    CANCELED = enum.auto()
    INPUT_REQUIRED = enum.auto()
    REJECTED = enum.auto()
    AUTH_REQUIRED = enum.auto()


# Built by member name, so a state missing from either enum fails at import.
_TO_WIRE: dict[str, str] = {state.value: WireTaskState[state.name].value for state in TaskState}
_FROM_WIRE: dict[str, str] = {
    wire.value: TaskState[wire.name].value
    for wire in WireTaskState
    if wire is not WireTaskState.UNSPECIFIED
}


def state_to_wire(state: str) -> str:
    """Return the 1.0 wire name of a stored state: "input-required" -> TASK_STATE_INPUT_REQUIRED."""
    return _TO_WIRE[state]


def state_from_wire(name: str) -> str | None:
    """Return the stored state a 1.0 wire name stands for; None for TASK_STATE_UNSPECIFIED."""
    return _FROM_WIRE.get(name)
