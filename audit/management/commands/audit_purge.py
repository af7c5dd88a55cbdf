"""``manage.py audit_purge [--days N] [--dry-run]``: apply the audit log's retention now."""

from __future__ import annotations

from datetime import datetime

from audit.selectors import audit_events_expired_count
from audit.services import audit_events_purge
from common.retention import RetentionPurgeCommand


class Command(RetentionPurgeCommand):
    help = (
        "Delete audit events older than AUDIT_RETENTION_DAYS (or --days N; 0 keeps everything)."
        " The Celery beat job audit-purge does the same daily."
    )
    setting = "AUDIT_RETENTION_DAYS"
    kept_forever = "Retention is 0 days (keep forever): removed 0 audit events."
    would_purge = (
        "Would remove {count} audit events created before {cutoff} (older than {days} days)."
    )
    purged = "Removed {count} audit events created before {cutoff} (older than {days} days)."

    def expired_count(self, *, cutoff: datetime) -> int:
        return audit_events_expired_count(cutoff=cutoff)

    def purge(self, *, now: datetime, days: int) -> int:
        return audit_events_purge(now=now, days=days)
