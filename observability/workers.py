"""Celery's side of the metrics: job counts and durations, worker roles, exit marks, heartbeat.

``worker_signals_connect`` (called from ``ObservabilityConfig.ready()``) connects the handlers
to Celery's signals in every process: the web processes (their embedded worker, and the exit
mark of multiprocess files at exit) and the worker processes alike.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from typing import Any

from celery import signals
from django.conf import settings
from prometheus_client import Counter, Histogram

from common.metrics import (
    FAST_BUCKETS,
    multiprocess_dir,
    process_exit_mark,
    process_role_set,
    process_stats_refresh,
)
from observability.heartbeat import HEARTBEAT_SECONDS
from observability.jobs import worker_heartbeat_job
from observability.worker_server import worker_metrics_serve

logger = logging.getLogger(__name__)

JOBS = Counter("webcap_jobs_total", "Celery jobs run, by job and outcome.", ["job", "outcome"])
JOB_DURATION = Histogram(
    "webcap_job_duration_seconds", "Run time of a Celery job.", ["job"], buckets=FAST_BUCKETS
)

_job_started: dict[str, float] = {}
_JOB_OUTCOMES = {"SUCCESS": "success", "RETRY": "retry", "FAILURE": "failure"}
_heartbeat_stop = threading.Event()


def _job_label(task: Any) -> str:
    name = str(getattr(task, "name", "") or "unknown")
    return name.rsplit(".", 1)[-1]


def _job_prerun(task_id: str | None = None, **kwargs: Any) -> None:
    if task_id:
        _job_started[task_id] = time.monotonic()


def _job_postrun(
    task_id: str | None = None, task: Any = None, state: str | None = None, **kwargs: Any
) -> None:
    """Count the job by the state it ended in (retry and failure included) and time it."""
    started = _job_started.pop(task_id, None) if task_id else None
    job = _job_label(task)
    outcome = _JOB_OUTCOMES.get(state or "")
    if outcome is not None:
        JOBS.labels(job, outcome).inc()
    if started is not None:
        JOB_DURATION.labels(job).observe(time.monotonic() - started)
    process_stats_refresh()


def _worker_init(sender: Any = None, **kwargs: Any) -> None:
    if settings.EMBEDDED:
        # The embedded worker is a thread of the web process; there is no beat to schedule
        # the heartbeat job, so a timer thread enqueues it through that worker instead.
        _heartbeat_stop.clear()
        threading.Thread(target=_heartbeat_ticker, name="metrics-heartbeat", daemon=True).start()
        return
    process_role_set("worker")
    if settings.METRICS_WORKER_PORT:
        # A worker on a host (container, pod) of its own: web processes cannot read its
        # multiprocess files, so it serves them itself (Prometheus scrapes both).
        worker_metrics_serve(settings.METRICS_WORKER_PORT)


def _worker_child_init(**kwargs: Any) -> None:
    process_role_set("worker", refresh_due=True)


def _worker_child_shutdown(pid: int | None = None, **kwargs: Any) -> None:
    process_exit_mark(pid)


def _worker_shutdown(**kwargs: Any) -> None:
    _heartbeat_stop.set()
    if not settings.EMBEDDED:
        process_exit_mark()


def _heartbeat_ticker() -> None:
    while True:
        try:
            worker_heartbeat_job.delay()
        except Exception:
            logger.warning("Could not enqueue the worker heartbeat job", exc_info=True)
        if _heartbeat_stop.wait(HEARTBEAT_SECONDS):
            return


def _exit_mark_if_same(pid: int) -> None:
    # A forked child inherits atexit handlers; only the process that registered marks itself.
    if os.getpid() == pid:
        process_exit_mark(pid)


def worker_signals_connect() -> None:
    """Connect the job and worker handlers to Celery's signals; mark this process's exit."""
    signals.task_prerun.connect(_job_prerun, dispatch_uid="webcap-metrics-prerun")
    signals.task_postrun.connect(_job_postrun, dispatch_uid="webcap-metrics-postrun")
    signals.worker_init.connect(_worker_init, dispatch_uid="webcap-metrics-worker-init")
    signals.worker_process_init.connect(_worker_child_init, dispatch_uid="webcap-metrics-child")
    signals.worker_process_shutdown.connect(
        _worker_child_shutdown, dispatch_uid="webcap-metrics-child-shutdown"
    )
    signals.worker_shutdown.connect(_worker_shutdown, dispatch_uid="webcap-metrics-shutdown")
    if multiprocess_dir():
        # Web processes (daphne) have no other exit hook; Celery processes use the signals.
        atexit.register(_exit_mark_if_same, os.getpid())
