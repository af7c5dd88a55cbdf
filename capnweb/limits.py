"""A session's resource limits (protocol.md leaves them to each implementation)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """Per-session resource limits; exceeding one aborts the session or rejects the call."""

    # Checked on the raw text, before JSON parsing.
    max_message_bytes: int = 1024 * 1024
    max_depth: int = 64
    # Incoming calls running at once; more are rejected without running.
    max_outstanding_calls: int = 100
    # Export-table rows (call results the peer has not released, objects we passed it).
    max_exports: int = 1000
    # Import-table rows (objects the peer passed us, our calls awaiting an answer).
    max_imports: int = 1000
