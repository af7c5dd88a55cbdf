"""A module of an operator's own tools, loaded through WEBCAP_TOOL_MODULES in the tests."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from tools.registry import ToolError, tool


@tool(description="Convert a length between metres and feet.", version="2")
def convert_length(
    value: Annotated[float, Field(description="The length to convert", ge=0)],
    unit: Literal["m", "ft"] = "m",
) -> float:
    """Return value in the other unit, to two decimals."""
    if value > 1e12:
        raise ToolError("that length is not on Earth")
    return round(value * 3.28084 if unit == "m" else value / 3.28084, 2)


@tool(
    description="Pretend to send an email.",
    requires_approval=True,
    approval_reason="send_email writes to someone on your behalf.",
    side_effects=True,
)
def send_email(to: str, subject: str) -> str:
    return f"queued for {to}: {subject}"
