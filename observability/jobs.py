"""Celery jobs of observability: the worker heartbeat."""

from __future__ import annotations

from celery import shared_task

from observability.heartbeat import worker_heartbeat_store


# The name it had in a2a/jobs.py: queued messages and CELERY_BEAT_SCHEDULE name it so.
@shared_task(name="a2a.jobs.worker_heartbeat_job", acks_late=True, ignore_result=True)
def worker_heartbeat_job() -> None:
    """Store the time a worker ran this (beat every 15 s): the worker-down alert reads it."""
    worker_heartbeat_store()
