"""Celery jobs of observability: the worker heartbeat."""

from __future__ import annotations

import logging

from celery import shared_task

from observability.heartbeat import worker_heartbeat_store


# The name it had in a2a/jobs.py: queued messages and CELERY_BEAT_SCHEDULE name it so.
# Its job_started/job_finished lines at DEBUG: every 15 s they would bury the useful ones,
# and webcap_worker_heartbeat_timestamp_seconds already shows that it runs.
@shared_task(
    name="a2a.jobs.worker_heartbeat_job",
    acks_late=True,
    ignore_result=True,
    webcap_log_level=logging.DEBUG,  # common.logging.JOB_LOG_LEVEL
)
def worker_heartbeat_job() -> None:
    """Store the time a worker ran this (beat every 15 s): the worker-down alert reads it."""
    worker_heartbeat_store()
