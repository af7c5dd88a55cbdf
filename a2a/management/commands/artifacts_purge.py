"""``manage.py artifacts_purge [--days N] [--dry-run]``: apply the artifact files' retention."""

from __future__ import annotations

from datetime import datetime

from a2a.services.artifacts import artifact_files_expired, artifact_files_purge
from common.retention import RetentionPurgeCommand


class Command(RetentionPurgeCommand):
    help = (
        "Delete the artifact files of tasks that ended more than ARTIFACT_RETENTION_DAYS ago "
        "(or --days N; 0 keeps everything). The Celery beat job artifact-files-purge does the "
        "same every hour."
    )
    setting = "ARTIFACT_RETENTION_DAYS"
    kept_forever = "Retention is 0 days (keep forever): deleted 0 artifact files."
    would_purge = (
        "Would delete {count} artifact files of tasks ended before {cutoff} "
        "(more than {days} days ago)."
    )
    purged = (
        "Deleted {count} artifact files of tasks ended before {cutoff} (more than {days} days ago)."
    )

    def expired_count(self, *, cutoff: datetime) -> int:
        return artifact_files_expired(cutoff=cutoff).count()

    def purge(self, *, now: datetime, days: int) -> int:
        return artifact_files_purge(days=days, now=now)
