"""The tool-call decisions a client sends in a follow-up message (a toolCallDecision DataPart)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError

from a2a.protocol import types as wire
from a2a.protocol.errors import InvalidParamsError

DECISION_SHAPE = (
    '{"toolCallDecision": {"toolCallId": "<id>", "approved": true | false, '
    '"reason": "<optional text>"}}'
)


class ToolCallDecision(BaseModel):
    """The DataPart a client sends to approve or reject a pending tool call."""

    model_config = ConfigDict(extra="forbid")

    toolCallId: str = Field(min_length=1, max_length=64)
    approved: StrictBool
    reason: str | None = Field(default=None, max_length=2000)


def decisions_in(message: wire.Message) -> list[ToolCallDecision]:
    """Return the tool-call decisions a message carries; malformed ones are -32602."""
    decisions = []
    for index, part in enumerate(message.parts):
        if not isinstance(part.data, dict) or "toolCallDecision" not in part.data:
            continue
        try:
            decisions.append(ToolCallDecision.model_validate(part.data["toolCallDecision"]))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'toolCallDecision'}: {e['msg']}"
                for e in exc.errors(include_url=False)
            )
            raise InvalidParamsError.for_fields(
                [
                    (
                        f"message.parts[{index}].data.toolCallDecision",
                        f"expected {DECISION_SHAPE} ({problems})",
                    )
                ]
            ) from exc
    return decisions


def is_decision(part: dict[str, Any]) -> bool:
    """Whether a stored message part is a decision (not something the model reads)."""
    return isinstance(part.get("data"), dict) and "toolCallDecision" in part["data"]
