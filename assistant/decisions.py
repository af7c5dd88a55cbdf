"""The tool-call decisions in a follow-up message: a toolCallDecision DataPart, or plain words."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError

from a2a.protocol import types as wire
from a2a.protocol.errors import InvalidParamsError
from tools.models import ToolCall

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


# --- Plain-language answers ---------------------------------------------------------------------

_NEGATIONS = ("don't", "dont", "do not")
_NEGATED = ("do it", "do that", "run it", "run that", "go ahead", "proceed", "allow it", "approve")
APPROVING = (
    "yes",
    "yeah",
    "yep",
    "yup",
    "y",
    "ok",
    "okay",
    "sure",
    "approve",
    "approved",
    "go ahead",
    "go for it",
    "do it",
    "run it",
    "proceed",
    "allow it",
    "allow",
    "confirm",
    "confirmed",
    "fine",
)
REJECTING = (
    *(f"{negation} {verb}" for negation in _NEGATIONS for verb in _NEGATED),
    *_NEGATIONS,
    "no",
    "nope",
    "nah",
    "n",
    "reject",
    "rejected",
    "deny",
    "denied",
    "refuse",
    "refused",
    "stop it",
    "stop",
    "abort",
    "never",
)
FILLERS = ("please", "thank you", "thanks", "just")
# Words after an approval that may take it back or ask something: such a reply is unclear.
_HEDGES = re.compile(
    r"\b(no|not|don'?t|never|stop|wait|but|except|instead|only|unless|cancel|reject|maybe"
    r"|what|why|how|which|who|when|where)\b"
)


def _phrase_pattern(phrases: tuple[str, ...]) -> re.Pattern[str]:
    # Longest first, so "do not do it" wins over "do not"; a phrase ends at a word boundary.
    ordered = sorted(phrases, key=len, reverse=True)
    return re.compile(r"(?:" + "|".join(re.escape(p) for p in ordered) + r")(?![\w'])")


_LEADING = {
    True: _phrase_pattern(APPROVING),
    False: _phrase_pattern(REJECTING),
    None: _phrase_pattern(FILLERS),
}
# Spaces, punctuation, and the en and em dashes.
_SEPARATORS = " \t\r\n,.;:!-\u2013\u2014"


@dataclass(frozen=True)
class PlainDecision:
    """A reply that clearly approves or rejects, and the words after the yes or no."""

    approved: bool
    reason: str


def plain_decision(text: str) -> PlainDecision | None:
    """Read a plain reply ("yes", "go ahead", "no, too risky") as a decision; None if unclear.

    The reply must start with approving or rejecting words, all of one kind; what follows
    is the reason. A question, a reply mixing yes and no, or an approval followed by words
    that may take it back ("yes, but not now") is unclear.
    """
    said = text.replace("\u2019", "'").strip()
    if not said or said.endswith("?"):
        return None
    lowered, position, kinds = said.lower(), 0, set()
    while True:
        while position < len(lowered) and lowered[position] in _SEPARATORS:
            position += 1
        for kind, pattern in _LEADING.items():
            match = pattern.match(lowered, position)
            if match:
                if kind is not None:
                    kinds.add(kind)
                position = match.end()
                break
        else:
            break
    if len(kinds) != 1:
        return None
    approved = kinds.pop()
    reason = said[position:].strip(_SEPARATORS)
    if approved and _HEDGES.search(reason.lower()):
        return None
    return PlainDecision(approved=approved, reason=reason)


def message_text(message: wire.Message) -> str:
    """Return the text parts of a message, joined by newlines."""
    return "\n".join(part.text for part in message.parts if part.text is not None)


# --- Asking -------------------------------------------------------------------------------------

HOW_TO_DECIDE = (
    "decide with a toolCallDecision data part, on the approval page (/approvals/) or over the "
    "REST API (POST /api/tool-calls/<id>/approve/ or /reject/)"
)


def _described(calls: list[ToolCall]) -> str:
    return "; ".join(f"{c.tool}({json.dumps(c.arguments)})" for c in calls)


def approval_prompt(pending: list[ToolCall], *, unclear: str | None = None) -> list[dict[str, Any]]:
    """Return the status message parts that ask for decisions on the pending calls.

    With ``unclear`` (a reply that decided nothing) the text says so first. A plain yes or no
    is offered only when one call waits: with several it could not say which.
    """
    described = _described(pending)
    if len(pending) == 1:
        choices = f'Reply "yes" to run it or "no, <reason>" to reject it, or {HOW_TO_DECIDE}.'
        if unclear is None:
            text = f"Approval needed before running: {described}. {choices}"
        else:
            text = (
                f'I could not tell whether "{unclear}" approves or rejects {described}. {choices}'
            )
    else:
        several = (
            "Several calls wait for a decision, so a plain yes or no cannot say which: "
            f"{HOW_TO_DECIDE}, once for each toolCallId."
        )
        if unclear is None:
            text = f"Approval needed before running: {described}. {several}"
        else:
            text = f'Your reply "{unclear}" decides nothing. {several} Waiting: {described}.'
    return [
        {"text": text},
        {
            "data": {
                "pendingToolCalls": [
                    {
                        "toolCallId": str(c.id),
                        "tool": c.tool,
                        "arguments": c.arguments,
                        "reason": c.approval_reason,
                    }
                    for c in pending
                ]
            }
        },
    ]
