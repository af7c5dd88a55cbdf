"""Who may read the audit log: decided by the app that defines roles, installed here.

The audit app is a leaf that every app writes to, so it knows no roles, users' groups or
API-key scopes. accounts installs its check in ``AppConfig.ready()``; until a check is
installed nobody reads the log (the admin page and ``/api/audit/`` refuse).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# Takes the request (Django's in the admin, DRF's in /api/audit/) and returns whether its
# user may read the log; it may raise DRF's PermissionDenied to refuse with a reason.
ReaderCheck = Callable[[Any], bool]

_installed: dict[str, ReaderCheck] = {}


def audit_reader_check_install(check: ReaderCheck) -> None:
    """Make check decide who reads the audit log (the app that defines roles calls this)."""
    _installed["reader"] = check


def audit_reader_allowed(request: Any) -> bool:
    """Return whether the request's user may read the audit log (no check installed: no one)."""
    check = _installed.get("reader")
    return check is not None and check(request)
