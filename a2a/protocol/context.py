"""What a handler knows about the call besides its parameters."""

from __future__ import annotations

from dataclasses import dataclass

from accounts.auth import Identity
from accounts.models import User


@dataclass(frozen=True)
class CallContext:
    """The authenticated caller, the binding it came through and the version it speaks."""

    user: User
    binding: str
    version: str
    # Where this server is reachable, for URLs written into responses (no trailing slash).
    base_url: str
    # The SSE Last-Event-ID a reconnecting client sent: resume after that event.
    last_event_id: str | None = None
    # How the caller authenticated (API key scopes narrow what it may do); None in tests
    # and internal calls, which act with the user's full rights.
    identity: Identity | None = None
