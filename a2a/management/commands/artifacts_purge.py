"""``manage.py artifacts_purge [--days N] [--dry-run]``: apply the artifact files' retention."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from a2a.services.artifacts import (
    artifact_files_expired,
    artifact_files_purge,
    artifact_retention_cutoff,
)


class Command(BaseCommand):
    help = (
        "Delete the artifact files of tasks that ended more than ARTIFACT_RETENTION_DAYS ago "
        "(or --days N; 0 keeps everything). The Celery beat job artifact-files-purge does the "
        "same every hour."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--days",
            type=int,
            default=None,
            help="Retention in days instead of ARTIFACT_RETENTION_DAYS (0: keep everything).",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Count what would be deleted; delete nothing."
        )

    def handle(self, *args: Any, days: int | None, dry_run: bool, **options: Any) -> None:
        if days is not None and days < 0:
            raise CommandError("--days must be 0 (keep everything) or more.")
        period = settings.ARTIFACT_RETENTION_DAYS if days is None else days
        cutoff = artifact_retention_cutoff(days=period)
        if cutoff is None:
            self.stdout.write("Retention is 0 days (keep forever): deleted 0 artifact files.")
            return
        if dry_run:
            count = artifact_files_expired(cutoff=cutoff).count()
            self.stdout.write(
                f"Would delete {count} artifact files of tasks ended before "
                f"{cutoff.isoformat()} (more than {period} days ago)."
            )
            return
        removed = artifact_files_purge(days=period)
        self.stdout.write(
            f"Deleted {removed} artifact files of tasks ended before {cutoff.isoformat()} "
            f"(more than {period} days ago)."
        )
