"""Writes to the audit log: recording events and purging expired ones.

Call ``audit_record`` inside the transaction of the change it describes (the service's own
``transaction.atomic`` block): if the change rolls back, so does its audit row, and a
committed change always has one. Outside a transaction the row is committed at once, which is
what refusals want (a failed sign-in leaves its row although the request fails).

The request id and client address come from ``common.request_context``; outside a request
(jobs, commands) they stay empty.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from django.conf import settings
from django.db import models

from audit.models import Action, AuditEvent, Outcome
from common.request_context import current_client_ip, current_request_id
from common.retention import retention_cutoff

if TYPE_CHECKING:
    # The actor is the project's user model (settings.AUTH_USER_MODEL); audit names no app's.
    from django.contrib.auth.base_user import AbstractBaseUser

logger = logging.getLogger(__name__)

# Keys of ``extra`` whose values are credentials; a caller's mistake must not store one.
SECRET_KEYS = frozenset(
    {
        "access",
        "api_key",
        "apikey",
        "authorization",
        "credential",
        "credentials",
        "key",
        "password",
        "refresh",
        "secret",
        "ticket",
        "token",
    }
)
REDACTED = "[redacted]"


def _redacted(value: Any) -> Any:
    """Return value with every credential-like key's value replaced, at any depth."""
    if isinstance(value, dict):
        return {
            key: REDACTED if str(key).lower() in SECRET_KEYS else _redacted(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [_redacted(item) for item in value]
    return value


def _clip(value: str, length: int) -> str:
    return value[:length]


# What other apps know about an actor that every row of theirs should say (a federated
# agent's name: ``{"callingAgent": "a"}``). A labeller is cheap (a cached lookup) and
# returns {} for an actor it knows nothing of; the caller's own ``extra`` keys win.
ActorLabeller = Callable[["AbstractBaseUser"], Mapping[str, Any]]
_labellers: list[ActorLabeller] = []


def audit_actor_labeller_register(labeller: ActorLabeller) -> None:
    """Have audit_record add what labeller says of each row's actor to its extra."""
    if labeller not in _labellers:
        _labellers.append(labeller)


def _labelled(extra: dict[str, Any] | None, actor: AbstractBaseUser | None) -> dict[str, Any]:
    if actor is None or not _labellers:
        return extra or {}
    labels: dict[str, Any] = {}
    for labeller in _labellers:
        labels.update(labeller(actor))
    return {**labels, **(extra or {})} if labels else extra or {}


def audit_record(
    *,
    action: str,
    actor: AbstractBaseUser | None = None,
    target: models.Model | None = None,
    target_type: str = "",
    target_id: str = "",
    outcome: str = "success",
    auth_method: str = "",
    extra: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event to the audit log (in the caller's transaction) and return it.

    ``target`` (a model instance) sets ``target_type`` to ``app_label.model`` and
    ``target_id`` to its primary key; otherwise both are taken as given.
    """
    if action not in Action.values:
        raise ValueError(f"Unknown audit action {action!r}.")
    if outcome not in Outcome.values:
        raise ValueError(f"Unknown audit outcome {outcome!r}.")
    if target is not None:
        target_type = target._meta.label_lower
        target_id = str(target.pk)
    # An unsaved user, or AnonymousUser passed as request.user, is nobody the log can name.
    if actor is not None and getattr(actor, "pk", None) is None:
        actor = None
    return AuditEvent.objects.create(
        # Typed as the abstract user: the stubs name AUTH_USER_MODEL's class, which a leaf
        # app does not import.
        actor=cast(Any, actor),
        actor_username=_clip(actor.get_username(), 150) if actor is not None else "",
        auth_method=_clip(auth_method, 32),
        action=action,
        target_type=_clip(target_type, 100),
        target_id=_clip(target_id, 255),
        outcome=outcome,
        request_id=_clip(current_request_id() or "", 128),
        client_ip=current_client_ip(),
        extra=_redacted(_labelled(extra, actor)),
    )


def audit_auth_failure(
    *, method: str, reason: str, hint: str, user: AbstractBaseUser | None = None
) -> AuditEvent:
    """Record refused credentials; hint tells them apart (a key prefix), never the secret."""
    return audit_record(
        action=Action.AUTH_FAILURE,
        outcome=Outcome.FAILURE,
        actor=user,
        auth_method=method,
        extra={"reason": reason[:200], "hint": hint[:80]},
    )


def audit_retention_cutoff(
    *, now: datetime | None = None, days: int | None = None
) -> datetime | None:
    """Return the time before which events expire, None when they are kept forever.

    ``days`` defaults to ``AUDIT_RETENTION_DAYS``; 0 means keep forever.
    """
    if days is None:
        days = settings.AUDIT_RETENTION_DAYS
    if days < 0:
        raise ValueError("The retention period cannot be negative.")
    return retention_cutoff(days=days, now=now)


def audit_events_purge(*, now: datetime | None = None, days: int | None = None) -> int:
    """Delete events older than the retention period; return how many were deleted."""
    cutoff = audit_retention_cutoff(now=now, days=days)
    if cutoff is None:
        return 0
    removed = AuditEvent.objects.purge_before(cutoff)
    logger.info("Purged %s audit events created before %s", removed, cutoff.isoformat())
    return removed
