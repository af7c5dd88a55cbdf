"""Retention: AUDIT_RETENTION_DAYS, the purge service, the beat job and the command."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command
from django.utils import timezone

from audit.jobs import audit_purge_job
from audit.models import AuditEvent
from audit.services import audit_events_purge

pytestmark = pytest.mark.django_db


def _event(days_old: float, action: str = "task.state") -> AuditEvent:
    event = AuditEvent(action=action, created_at=timezone.now() - timedelta(days=days_old))
    event.save()
    return event


@pytest.fixture
def events():
    """Rows 400, 40 and 0 days old."""
    return {age: _event(age) for age in (400, 40, 0)}


def _ages_left(events: dict[int, AuditEvent]) -> list[int]:
    left = set(AuditEvent.objects.values_list("id", flat=True))
    return sorted(age for age, event in events.items() if event.pk in left)


def test_purge_deletes_rows_older_than_the_retention_period(events, settings):
    settings.AUDIT_RETENTION_DAYS = 365
    assert audit_events_purge() == 1
    assert _ages_left(events) == [0, 40]
    settings.AUDIT_RETENTION_DAYS = 30
    assert audit_events_purge() == 1
    assert _ages_left(events) == [0]
    assert audit_events_purge() == 0


def test_purge_counts_from_now(events, settings):
    settings.AUDIT_RETENTION_DAYS = 30
    assert audit_events_purge(now=timezone.now() - timedelta(days=20)) == 1
    assert _ages_left(events) == [0, 40]


def test_zero_days_keeps_everything(events, settings):
    settings.AUDIT_RETENTION_DAYS = 0
    assert audit_events_purge() == 0
    assert _ages_left(events) == [0, 40, 400]


def test_purge_in_batches(settings, monkeypatch):
    monkeypatch.setattr("audit.models.PURGE_BATCH", 2)
    for _ in range(5):
        _event(100)
    keep = _event(1)
    settings.AUDIT_RETENTION_DAYS = 10
    assert audit_events_purge() == 5
    assert list(AuditEvent.objects.values_list("id", flat=True)) == [keep.pk]


def test_the_beat_job_is_scheduled_and_purges(events, settings):
    assert django_settings.CELERY_BEAT_SCHEDULE["audit-purge"]["task"] == audit_purge_job.name
    assert audit_purge_job.name == "audit.jobs.audit_purge_job"
    settings.AUDIT_RETENTION_DAYS = 30
    # Through Celery (eager in tests), as beat would send it.
    assert audit_purge_job.delay().get() == 2
    assert _ages_left(events) == [0]
    assert audit_purge_job() == 0


def _command(*args: str) -> str:
    out = StringIO()
    call_command("audit_purge", *args, stdout=out)
    return out.getvalue()


def test_command_uses_the_setting(events, settings):
    settings.AUDIT_RETENTION_DAYS = 365
    out = _command()
    assert out.startswith("Removed 1 audit events created before ")
    assert out.rstrip().endswith("(older than 365 days).")
    assert _ages_left(events) == [0, 40]


def test_command_days_and_dry_run(events, settings):
    settings.AUDIT_RETENTION_DAYS = 365
    out = _command("--days", "30", "--dry-run")
    assert out.startswith("Would remove 2 audit events created before ")
    assert _ages_left(events) == [0, 40, 400]
    assert _command("--days", "30").startswith("Removed 2 audit events")
    assert _ages_left(events) == [0]


def test_command_zero_days_keeps_everything(events, settings):
    settings.AUDIT_RETENTION_DAYS = 30
    out = _command("--days", "0")
    assert out == "Retention is 0 days (keep forever): removed 0 audit events.\n"
    assert _ages_left(events) == [0, 40, 400]


def test_command_refuses_negative_days(events):
    with pytest.raises(CommandError, match="--days must be 0"):
        _command("--days", "-1")
    assert _ages_left(events) == [0, 40, 400]
