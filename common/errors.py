"""The application error services raise for conditions a caller should hear about."""

from __future__ import annotations

from typing import Any


class ApplicationError(Exception):
    """A failure a service reports to its caller, with a message meant for the client."""

    status_code = 400

    def __init__(self, message: str, *, extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra or {}
