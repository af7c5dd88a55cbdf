"""``manage.py audit_purge [--days N] [--dry-run]``: apply the audit log's retention now."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from audit.selectors import audit_events_expired_count
from audit.services import audit_events_purge, audit_retention_cutoff


class Command(BaseCommand):
    help = (
        "Delete audit events older than AUDIT_RETENTION_DAYS (or --days N; 0 keeps everything)."
        " The Celery beat job audit-purge does the same daily."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--days",
            type=int,
            default=None,
            help="Retention in days instead of AUDIT_RETENTION_DAYS (0: keep everything).",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Count what would be deleted; delete nothing."
        )

    def handle(self, *args: Any, days: int | None, dry_run: bool, **options: Any) -> None:
        if days is not None and days < 0:
            raise CommandError("--days must be 0 (keep everything) or more.")
        period = settings.AUDIT_RETENTION_DAYS if days is None else days
        now = timezone.now()
        cutoff = audit_retention_cutoff(now=now, days=period)
        if cutoff is None:
            self.stdout.write("Retention is 0 days (keep forever): removed 0 audit events.")
            return
        if dry_run:
            count = audit_events_expired_count(cutoff=cutoff)
            self.stdout.write(
                f"Would remove {count} audit events created before {cutoff.isoformat()}"
                f" (older than {period} days)."
            )
            return
        removed = audit_events_purge(now=now, days=period)
        self.stdout.write(
            f"Removed {removed} audit events created before {cutoff.isoformat()}"
            f" (older than {period} days)."
        )
