"""Celery jobs of observability: the worker heartbeat."""

from __future__ import annotations

import logging

from celery import Task, shared_task

from observability.heartbeat import worker_heartbeat_store


class QuietJob(Task[[], None]):
    """A job that runs every few seconds: its job_started/job_finished lines are DEBUG
    (``common.logging.JOB_LOG_LEVEL``); a failure still logs a WARNING."""

    webcap_log_level = logging.DEBUG


# The name it had in a2a/jobs.py: queued messages and CELERY_BEAT_SCHEDULE name it so.
# Quiet: every 15 s its lines would bury the useful ones, and
# webcap_worker_heartbeat_timestamp_seconds already shows that it runs.
@shared_task(
    name="a2a.jobs.worker_heartbeat_job", base=QuietJob, acks_late=True, ignore_result=True
)
def worker_heartbeat_job() -> None:
    """Store the time a worker ran this (beat every 15 s): the worker-down alert reads it."""
    worker_heartbeat_store()
