"""What every retention purge shares: the cutoff, and the ``<name>_purge`` command shape."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone


def retention_cutoff(*, days: int, now: datetime | None = None) -> datetime | None:
    """Return the time before which rows expire after ``days`` days; None keeps them forever."""
    if days <= 0:
        return None
    return (now or timezone.now()) - timedelta(days=days)


class RetentionPurgeCommand(BaseCommand):
    """``--days N`` (default: the setting) and ``--dry-run``, then count or purge.

    A subclass names its setting, counts what would go, purges, and words its three
    answers; each is formatted with ``count``, ``cutoff`` (ISO 8601) and ``days``.
    """

    setting: str
    kept_forever: str
    would_purge: str
    purged: str

    def expired_count(self, *, cutoff: datetime) -> int:
        raise NotImplementedError

    def purge(self, *, now: datetime, days: int) -> int:
        raise NotImplementedError

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--days",
            type=int,
            default=None,
            help=f"Retention in days instead of {self.setting} (0: keep everything).",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Count what would be deleted; delete nothing."
        )

    def handle(self, *args: Any, days: int | None, dry_run: bool, **options: Any) -> None:
        if days is not None and days < 0:
            raise CommandError("--days must be 0 (keep everything) or more.")
        period: int = getattr(settings, self.setting) if days is None else days
        now = timezone.now()
        cutoff = retention_cutoff(days=period, now=now)
        if cutoff is None:
            self.stdout.write(self.kept_forever)
            return
        if dry_run:
            count = self.expired_count(cutoff=cutoff)
            template = self.would_purge
        else:
            count = self.purge(now=now, days=period)
            template = self.purged
        self.stdout.write(template.format(count=count, cutoff=cutoff.isoformat(), days=period))
