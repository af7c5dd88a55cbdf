"""What a tool call can end in besides a result: the errors the model reads, and waiting."""

from __future__ import annotations


class ToolError(Exception):
    """A tool failed in a way the model should hear about (bad arguments, refused, failed)."""


class ToolSuspended(Exception):
    """The call waits for something outside the job (a remote agent's question): no result yet.

    The tool has already put its task in an interrupted state; the call is scheduled again,
    and runs again (to pick up where it stopped) when the task runs next.
    """


def timed_out_message(limit: float) -> str:
    """Return the error the model reads for a call stopped at its deadline."""
    return f"timed out after {limit:g} s"


def failed_message(exc: BaseException) -> str:
    """Return the error the model reads for a tool that raised something other than ToolError."""
    return f"the tool failed: {type(exc).__name__}"
