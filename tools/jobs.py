"""Celery jobs of the tool platform: the periodic refresh of tool sources
(``CELERY_BEAT_SCHEDULE``)."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from tools.sources.services import tool_sources_refresh_due


@shared_task(
    acks_late=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    retry_backoff_max=300,
    max_retries=3,
)
def tool_sources_refresh_job() -> int:
    """List every enabled MCP source's tools again (a change is a new version); return how
    many sources were asked. Idempotent: an unchanged server publishes nothing."""
    return tool_sources_refresh_due()
