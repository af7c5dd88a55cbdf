"""Celery jobs of the audit app: the daily retention purge (``CELERY_BEAT_SCHEDULE``)."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from audit.services import audit_events_purge


@shared_task(
    acks_late=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    retry_backoff_max=300,
    max_retries=5,
)
def audit_purge_job() -> int:
    """Delete audit events older than AUDIT_RETENTION_DAYS; return how many.

    Idempotent: a second run right after the first finds nothing left to delete.
    """
    return audit_events_purge()
