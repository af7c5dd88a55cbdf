"""The agent and job registry: filled by the apps at start-up, refusing a name twice."""

from __future__ import annotations

import uuid
from unittest import mock

import pytest
import structlog
from django.core.exceptions import ImproperlyConfigured

from a2a import registry
from a2a.agents.conformance import ConformanceAgent
from a2a.agents.echo import EchoAgent
from a2a.jobs import push_deliver_job, task_run_job
from a2a.services import runs
from a2a.services.push import PUSH_DELIVER_JOB


@pytest.fixture
def fresh_registry():
    """Let a test register without leaving anything behind for the next one."""
    with mock.patch.dict(registry.AGENTS), mock.patch.dict(registry.JOBS):
        yield


def test_the_shipped_agents_and_jobs_are_registered_at_start_up():
    assert registry.AGENTS["echo"] is EchoAgent
    assert registry.AGENTS["conformance"] is ConformanceAgent
    assert registry.JOBS[runs.TASK_RUN_JOB] is task_run_job
    assert registry.JOBS[PUSH_DELIVER_JOB] is push_deliver_job


@pytest.mark.usefixtures("fresh_registry")
def test_an_agent_with_a_taken_name_is_refused():
    class Impostor(EchoAgent):
        pass

    with pytest.raises(ImproperlyConfigured, match="Two agents are named 'echo'"):
        registry.agent_register(Impostor)
    assert registry.AGENTS["echo"] is EchoAgent


@pytest.mark.usefixtures("fresh_registry")
def test_registering_the_same_agent_again_changes_nothing():
    registry.agent_register(EchoAgent)
    assert registry.AGENTS["echo"] is EchoAgent


def test_an_unknown_agent_is_a_key_error_or_none():
    with pytest.raises(KeyError):
        registry.agent_get("nobody")
    assert registry.agent_find("nobody") is None
    assert isinstance(registry.agent_find("echo"), EchoAgent)
    assert isinstance(registry.agent_get("echo"), EchoAgent)


@pytest.mark.usefixtures("fresh_registry")
def test_a_job_with_a_taken_name_is_refused():
    registry.job_register(runs.TASK_RUN_JOB, task_run_job)
    with pytest.raises(ImproperlyConfigured, match="Two jobs are registered as 'task_run'"):
        registry.job_register(runs.TASK_RUN_JOB, push_deliver_job)
    assert registry.JOBS[runs.TASK_RUN_JOB] is task_run_job


def test_an_unknown_job_cannot_be_queued():
    with pytest.raises(LookupError, match="No job is registered as 'nothing'"):
        registry.job_queue("nothing", "x")


@pytest.mark.django_db
def test_a_task_run_is_queued_by_name_only_when_the_transaction_commits(
    monkeypatch, django_capture_on_commit_callbacks
):
    log_context: list[dict[str, object]] = []
    job = mock.Mock()
    job.delay.side_effect = lambda *args: log_context.append(
        structlog.contextvars.get_contextvars()
    )
    monkeypatch.setitem(registry.JOBS, runs.TASK_RUN_JOB, job)
    task_id = uuid.uuid4()
    with django_capture_on_commit_callbacks(execute=True):
        runs.task_run_queue(task_id)
        job.delay.assert_not_called()
    job.delay.assert_called_once_with(str(task_id))
    # Queued with the task named in the log context (the job carries it), bound only then.
    assert log_context == [{"task_id": str(task_id)}]
    assert "task_id" not in structlog.contextvars.get_contextvars()
