"""Reads of the audit log. Who may read it is decided by the caller (``reads_audit``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import QuerySet

from audit.models import AuditEvent


@dataclass(frozen=True)
class AuditEventFilter:
    """What to narrow the log to; empty values do not narrow."""

    action: str = ""
    outcome: str = ""
    actor_username: str = ""
    target_type: str = ""
    target_id: str = ""
    request_id: str = ""
    since: datetime | None = None
    until: datetime | None = None


def audit_events_list(*, filters: AuditEventFilter | None = None) -> QuerySet[AuditEvent]:
    """Return the events matching filters, newest first (``since`` inclusive, ``until`` not)."""
    queryset = AuditEvent.objects.all()
    f = filters or AuditEventFilter()
    exact = {
        "action": f.action,
        "outcome": f.outcome,
        "actor_username": f.actor_username,
        "target_type": f.target_type,
        "target_id": f.target_id,
        "request_id": f.request_id,
    }
    queryset = queryset.filter(**{field: value for field, value in exact.items() if value})
    if f.since is not None:
        queryset = queryset.filter(created_at__gte=f.since)
    if f.until is not None:
        queryset = queryset.filter(created_at__lt=f.until)
    return queryset.order_by("-created_at", "-id")


def audit_events_expired_count(*, cutoff: datetime) -> int:
    """Return how many events a purge with this cutoff would delete."""
    return AuditEvent.objects.filter(created_at__lt=cutoff).count()
