"""The task run job and the echo agent, through the eager Celery path."""

from __future__ import annotations

import pytest

from a2a import agents
from a2a.agents import Agent, TaskRun
from a2a.jobs import task_run_job
from a2a.models import Artifact, Task, TaskState
from a2a.services.tasks import task_cancel, task_transition
from tests.factories import send


def _events(task_id) -> list[tuple[str, str]]:
    task = Task.objects.get(pk=task_id)
    return list(task.events.order_by("seq").values_list("kind", "state"))


def _status_text(task_id):
    task = Task.objects.select_related("status_message").get(pk=task_id)
    assert task.status_message is not None
    return task.status_message.parts[0]["text"]


@pytest.fixture
def register_agent(monkeypatch):
    def register(agent_class: type[Agent]) -> None:
        monkeypatch.setitem(agents.AGENTS, agent_class.name, agent_class)

    return register


def test_echo_streams_one_chunk_per_word_then_completes(user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        result = send(user, "one  two\nthree")
    assert _events(result.task_id) == [
        ("task", "submitted"),
        ("status-update", "working"),
        ("artifact-update", "working"),
        ("artifact-update", "working"),
        ("artifact-update", "working"),
        ("status-update", "completed"),
    ]
    chunks = [
        e.payload["artifactUpdate"]
        for e in Task.objects.get(pk=result.task_id)
        .events.filter(kind="artifact-update")
        .order_by("seq")
    ]
    assert [(c["artifact"]["parts"][0]["text"], c["append"], c["lastChunk"]) for c in chunks] == [
        ("one", False, False),
        (" two", True, False),
        (" three", True, True),
    ]
    artifact = Artifact.objects.get(task_id=result.task_id)
    assert "".join(p["text"] for p in artifact.parts) == "one two three"
    assert artifact.complete


def test_echo_without_text_completes_with_a_message(user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        result = send(user, parts=[{"data": {"a": 1}}])
    assert Task.objects.get(pk=result.task_id).state == "completed"
    assert _status_text(result.task_id) == "There was no text to echo."


def test_a_failing_agent_fails_the_task(
    user, register_agent, settings, django_capture_on_commit_callbacks
):
    class Broken(Agent):
        name = "broken"
        description = "raises"
        skills = []

        def run(self, run: TaskRun) -> None:
            run.working()
            raise RuntimeError("boom")

    register_agent(Broken)
    settings.WEBCAP_AGENT = "broken"
    with django_capture_on_commit_callbacks(execute=True):
        result = send(user)
    assert Task.objects.get(pk=result.task_id).state == "failed"
    assert _status_text(result.task_id) == "The agent failed with an internal error."


def test_an_agent_that_never_finishes_fails_the_task(
    user, register_agent, settings, django_capture_on_commit_callbacks
):
    class Lazy(Agent):
        name = "lazy"
        description = "returns early"
        skills = []

        def run(self, run: TaskRun) -> None:
            run.working("on it")

    register_agent(Lazy)
    settings.WEBCAP_AGENT = "lazy"
    with django_capture_on_commit_callbacks(execute=True):
        result = send(user)
    assert Task.objects.get(pk=result.task_id).state == "failed"
    assert _status_text(result.task_id) == "The agent stopped without a result."


def test_a_reply_before_the_job_ends_does_not_fail_the_task(
    user, register_agent, settings, django_capture_on_commit_callbacks
):
    class Asker(Agent):
        name = "asker"
        description = "asks, and is answered at once"
        skills = []

        def run(self, run: TaskRun) -> None:
            run.input_required("Which one?")
            # A fast client answers before this job has returned: the follow-up moves the
            # task to submitted again (its own job runs it next).
            task_transition(task_id=run.task_id, state=TaskState.SUBMITTED)

    register_agent(Asker)
    settings.WEBCAP_AGENT = "asker"
    with django_capture_on_commit_callbacks(execute=True):
        result = send(user)
    assert Task.objects.get(pk=result.task_id).state == "submitted"
    assert ("status-update", "failed") not in _events(result.task_id)


def test_cancel_during_a_run_stops_the_agent(
    user, register_agent, settings, django_capture_on_commit_callbacks
):
    seen: list[str] = []

    class Canceled(Agent):
        name = "canceled"
        description = "is canceled mid-run"
        skills = []

        def run(self, run: TaskRun) -> None:
            run.working()
            task_cancel(user=user, task_id=str(run.task_id))
            seen.append("before")
            run.artifact(artifact_id="a", parts=[{"text": "late"}])
            seen.append("after")  # never reached: the artifact call raises TaskStopped

    register_agent(Canceled)
    settings.WEBCAP_AGENT = "canceled"
    with django_capture_on_commit_callbacks(execute=True):
        result = send(user)
    assert seen == ["before"]
    assert Task.objects.get(pk=result.task_id).state == "canceled"
    assert not Artifact.objects.exists()


def test_job_leaves_finished_and_interrupted_tasks_alone(user):
    done = send(user).task_id
    task_transition(task_id=done, state=TaskState.COMPLETED)
    waiting = send(user).task_id
    task_transition(task_id=waiting, state=TaskState.INPUT_REQUIRED)
    task_run_job.apply(args=(str(done),))
    task_run_job.apply(args=(str(waiting),))
    task_run_job.apply(args=("00000000-0000-0000-0000-000000000000",))
    assert Task.objects.get(pk=done).last_seq == 2
    assert Task.objects.get(pk=waiting).last_seq == 2


def test_job_fails_a_task_whose_agent_is_gone(user):
    result = send(user)
    Task.objects.filter(pk=result.task_id).update(agent="retired")
    task_run_job.apply(args=(str(result.task_id),))
    assert Task.objects.get(pk=result.task_id).state == "failed"
    assert _status_text(result.task_id) == "Agent 'retired' is not available on this server."


@pytest.mark.django_db
def test_the_orphan_sweep_reruns_only_tasks_whose_job_was_lost(monkeypatch, user):
    from datetime import timedelta

    from django.utils import timezone

    from a2a.services.tasks import tasks_requeue_orphaned

    now = timezone.now()
    ids = {name: send(user, name).task_id for name in ("dead", "alive", "lost", "fresh", "done")}
    Task.objects.filter(pk=ids["dead"]).update(
        state=TaskState.WORKING, lease_token="x", lease_until=now - timedelta(seconds=1)
    )
    Task.objects.filter(pk=ids["alive"]).update(
        state=TaskState.WORKING, lease_token="y", lease_until=now + timedelta(seconds=30)
    )
    Task.objects.filter(pk=ids["lost"]).update(
        state=TaskState.SUBMITTED, status_timestamp=now - timedelta(seconds=300)
    )
    Task.objects.filter(pk=ids["fresh"]).update(state=TaskState.SUBMITTED, status_timestamp=now)
    # Record what the sweep enqueues instead of running it inline.
    sent: list[str] = []
    monkeypatch.setattr(task_run_job, "delay", lambda task_id: sent.append(task_id))

    assert tasks_requeue_orphaned(submitted_after=120) == 2
    assert sorted(sent) == sorted([str(ids["dead"]), str(ids["lost"])])
