"""What a stream yields, and the checks every answer of the remote passes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import ValidationError

from a2a.client.errors import MalformedResponse
from a2a.protocol.states import INTERRUPTED_STATES, TERMINAL_STATES, state_from_wire
from a2a.protocol.types import StreamResponse, WireModel
from a2a.protocol.validation import violations

M = TypeVar("M", bound=WireModel)
# A2A §4.1.3: the states after which a stream closes.
_FINAL_STATES = frozenset(TERMINAL_STATES | INTERRUPTED_STATES)


@dataclass(frozen=True)
class StreamEvent:
    """One StreamResponse of a stream and the SSE id it came with.

    Keep ``event_id`` of the last event handled: ``subscribe_to_task(task_id,
    last_event_id=...)`` resumes after it, without repeating or missing an event.
    """

    response: StreamResponse
    event_id: str | None

    @property
    def kind(self) -> str:
        """``task``, ``message``, ``statusUpdate`` or ``artifactUpdate``."""
        for name in ("task", "message", "status_update", "artifact_update"):
            if getattr(self.response, name) is not None:
                return {"status_update": "statusUpdate", "artifact_update": "artifactUpdate"}.get(
                    name, name
                )
        raise AssertionError("a StreamResponse holds exactly one member")  # checked on parse

    @property
    def final(self) -> bool:
        """Whether a stream may end after this event: a message, or a task in a terminal or
        interrupted state (a subscription goes on past an interrupted one)."""
        response = self.response
        if response.message is not None:
            return True
        status = response.task.status if response.task is not None else None
        if response.status_update is not None:
            status = response.status_update.status
        return status is not None and state_from_wire(status.state) in _FINAL_STATES


def wire_parse(model: type[M], data: Any, *, where: str) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{field}: {text}" for field, text in violations(exc)[:10])
        raise MalformedResponse(f"{where}: not a valid {model.__name__}: {problems}") from exc


def one_of(model: WireModel, names: Sequence[str], *, where: str) -> None:
    present = [name for name in names if getattr(model, name) is not None]
    if len(present) != 1:
        raise MalformedResponse(
            f"{where}: a {type(model).__name__} must hold exactly one of "
            f"{', '.join(names)} (got {', '.join(present) or 'none'})"
        )
