"""Celery jobs of the remote agents registry: the card refresh (``CELERY_BEAT_SCHEDULE``)."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from remote_agents.services import remote_agents_refresh_due


@shared_task(
    acks_late=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    retry_backoff_max=300,
    max_retries=3,
)
def remote_agents_refresh_job() -> int:
    """Refresh the cards that are due (Cache-Control max-age, else
    WEBCAP_REMOTE_AGENT_REFRESH_SECONDS); return how many were fetched.

    Idempotent: a second run right after the first finds nothing due.
    """
    return remote_agents_refresh_due()
