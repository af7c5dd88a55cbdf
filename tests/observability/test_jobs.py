"""The worker heartbeat's log lines: DEBUG for it alone, every other job's stay at INFO."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from celery import shared_task

from a2a.jobs import push_deliveries_sweep_job
from observability.jobs import QuietJob, worker_heartbeat_job

pytestmark = pytest.mark.django_db


def _job_lines(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str, str]]:
    """(level, event, job) of each job_started/job_finished record captured."""
    lines = []
    for record in caplog.records:
        event: Any = record.msg
        if record.name == "common.logging" and isinstance(event, dict):
            lines.append((record.levelname, event["event"], event.get("job", "")))
    return lines


@shared_task(name="tests.observability.quiet_failing_job", base=QuietJob)
def quiet_failing_job() -> None:
    raise RuntimeError("the heartbeat's cache is gone")


def test_the_heartbeat_logs_its_job_lines_at_debug(caplog):
    caplog.set_level(logging.DEBUG, logger="common.logging")
    worker_heartbeat_job.delay()
    job = "a2a.jobs.worker_heartbeat_job"
    assert _job_lines(caplog) == [("DEBUG", "job_started", job), ("DEBUG", "job_finished", job)]


def test_at_the_default_info_level_the_heartbeat_leaves_no_line(caplog):
    caplog.set_level(logging.INFO)
    worker_heartbeat_job.delay()
    worker_heartbeat_job.delay()
    assert _job_lines(caplog) == []


def test_other_jobs_still_log_at_info(caplog):
    caplog.set_level(logging.INFO)
    push_deliveries_sweep_job.delay()
    job = "a2a.jobs.push_deliveries_sweep_job"
    assert _job_lines(caplog) == [("INFO", "job_started", job), ("INFO", "job_finished", job)]


def test_a_quiet_job_that_fails_still_warns(caplog):
    caplog.set_level(logging.INFO)
    result = quiet_failing_job.apply(throw=False)
    assert result.state == "FAILURE"
    job = "tests.observability.quiet_failing_job"
    # Its start stays below INFO; its failure is shown.
    assert _job_lines(caplog) == [("WARNING", "job_finished", job)]
