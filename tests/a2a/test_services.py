"""The task services: sending, idempotency, the state machine, artifacts and cancel."""

from __future__ import annotations

from unittest import mock

import pytest

from a2a.models import Artifact, Context, Message, Role, Task, TaskEvent, TaskState
from a2a.protocol import errors
from a2a.services import runs as run_services
from a2a.services.tasks import (
    ALLOWED_TRANSITIONS,
    TaskStateError,
    message_send,
    task_artifact_update,
    task_cancel,
    task_transition,
    tasks_requeue_unfinished,
)
from tests.factories import send, wire_message


@pytest.fixture(autouse=True)
def no_jobs():
    """Service tests look at what a send stores; jobs are tested in test_jobs."""
    with mock.patch.object(run_services, "_task_run_enqueue") as enqueue:
        yield enqueue


def _events(task: Task) -> list[tuple[int, str, str]]:
    return list(task.events.order_by("seq").values_list("seq", "kind", "state"))


def test_send_creates_task_message_and_first_event(
    user, no_jobs, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        result = send(user, "hello world", message_id="m-1")
    task = Task.objects.get(pk=result.task_id)
    assert (result.created, result.duplicate, result.start_seq) == (True, False, 1)
    assert (task.owner, task.state, task.agent, task.last_seq) == (user, "submitted", "echo", 1)
    message = Message.objects.get(task=task)
    assert (message.role, message.message_id, message.position, message.seq) == (
        "user",
        "m-1",
        1,
        1,
    )
    assert message.parts == [{"text": "hello world"}]
    event = TaskEvent.objects.get(task=task)
    assert (event.seq, event.kind, event.state) == (1, "task", "submitted")
    snapshot = event.payload["task"]
    assert snapshot["id"] == str(task.id)
    assert snapshot["status"]["state"] == "TASK_STATE_SUBMITTED"
    assert snapshot["history"][0]["messageId"] == "m-1"
    no_jobs.assert_called_once_with(task.id)


def test_job_is_enqueued_only_after_commit(user, no_jobs, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        send(user)
    no_jobs.assert_not_called()
    assert len(callbacks) == 2  # the doorbell, then the job


def test_context_is_created_server_side_or_accepted_from_client(user, other_user):
    first = Task.objects.get(pk=send(user).task_id)
    second = Task.objects.get(pk=send(user, context_id=first.context.key).task_id)
    assert second.context_id == first.context_id
    client_made = Task.objects.get(pk=send(user, context_id="my-conversation").task_id)
    assert client_made.context.key == "my-conversation"
    # The same contextId string is another user's own context, not shared.
    bobs = Task.objects.get(pk=send(other_user, context_id="my-conversation").task_id)
    assert bobs.context_id != client_made.context_id
    assert Context.objects.filter(key="my-conversation").count() == 2


def test_a_repeated_message_without_task_is_a_retry_of_the_first(user):
    first = send(user, message_id="same")
    again = send(user, message_id="same")
    assert (again.task_id, again.start_seq, again.created, again.duplicate) == (
        first.task_id,
        1,
        False,
        True,
    )
    assert Task.objects.filter(owner=user).count() == 1
    assert Message.objects.filter(owner=user, role="user").count() == 1


def test_repeated_follow_up_for_the_same_task_returns_the_same_turn(user):
    result = send(user)
    task_transition(task_id=result.task_id, state=TaskState.INPUT_REQUIRED)
    follow = send(user, "here", task_id=str(result.task_id), message_id="f-1")
    retry = send(user, "here", task_id=str(result.task_id), message_id="f-1")
    assert (retry.task_id, retry.start_seq, retry.created, retry.duplicate) == (
        result.task_id,
        follow.start_seq,
        False,
        True,
    )
    task = Task.objects.get(pk=result.task_id)
    assert task.messages.filter(role="user").count() == 2
    assert task.last_seq == 3


def test_a_retry_is_answered_even_after_the_task_finished(user):
    result = send(user)
    task_transition(task_id=result.task_id, state=TaskState.INPUT_REQUIRED)
    send(user, "here", task_id=str(result.task_id), message_id="f-1")
    task_transition(task_id=result.task_id, state=TaskState.COMPLETED)
    retry = send(user, "here", task_id=str(result.task_id), message_id="f-1")
    assert retry.duplicate


def test_a_reused_message_id_with_new_content_is_new_input(user):
    result = send(user, message_id="m")
    task_transition(task_id=result.task_id, state=TaskState.INPUT_REQUIRED)
    follow = send(user, "first answer", task_id=str(result.task_id), message_id="m")
    assert not follow.duplicate
    task_transition(task_id=result.task_id, state=TaskState.INPUT_REQUIRED)
    again = send(user, "second answer", task_id=str(result.task_id), message_id="m")
    assert not again.duplicate
    texts = [
        m.parts[0]["text"]
        for m in Task.objects.get(pk=result.task_id).messages.order_by("position")
    ]
    assert texts == ["hello world", "first answer", "second answer"]


def test_only_user_messages_are_accepted(user):
    message = wire_message().model_copy(update={"role": "ROLE_AGENT"})
    with pytest.raises(errors.InvalidParamsError, match=r"message\.role"):
        message_send(owner=user, message=message)
    assert not Task.objects.exists()


def test_unknown_or_foreign_task_id_is_not_found_and_stores_nothing(user, other_user):
    bobs = send(other_user)
    for task_id in (str(bobs.task_id), "00000000-0000-0000-0000-000000000000", "not-a-uuid"):
        with pytest.raises(errors.TaskNotFoundError, match="not found"):
            send(user, task_id=task_id)
    assert Message.objects.filter(owner=user).count() == 0


def test_follow_up_continues_an_interrupted_task(user, no_jobs):
    result = send(user)
    task_transition(
        task_id=result.task_id, state=TaskState.INPUT_REQUIRED, message_parts=[{"text": "more?"}]
    )
    task = Task.objects.get(pk=result.task_id)
    follow = send(user, "here you go", task_id=str(task.id), context_id=task.context.key)
    task.refresh_from_db()
    assert (follow.task_id, follow.created, follow.start_seq) == (task.id, False, 3)
    assert (task.state, task.last_seq) == ("submitted", 3)
    assert list(task.messages.order_by("position").values_list("role", flat=True)) == [
        "user",
        "agent",
        "user",
    ]
    assert no_jobs.call_count == 0  # on_commit never fires inside the test transaction


def test_follow_up_with_mismatching_context_is_rejected(user):
    result = send(user)
    task_transition(task_id=result.task_id, state=TaskState.INPUT_REQUIRED)
    with pytest.raises(errors.InvalidParamsError, match=r"message\.contextId"):
        send(user, task_id=str(result.task_id), context_id="other")


@pytest.mark.parametrize("state", ["submitted", "working"])
def test_message_to_a_running_task_is_unsupported(user, state):
    result = send(user)
    if state == "working":
        task_transition(task_id=result.task_id, state=TaskState.WORKING)
    with pytest.raises(errors.UnsupportedOperationError, match=f"is {state}"):
        send(user, task_id=str(result.task_id))


@pytest.mark.parametrize("state", ["completed", "failed", "canceled", "rejected"])
def test_message_to_a_terminal_task_is_unsupported(user, state):
    result = send(user)
    task_transition(task_id=result.task_id, state=state)
    with pytest.raises(errors.UnsupportedOperationError, match="terminal"):
        send(user, task_id=str(result.task_id))
    assert Task.objects.get(pk=result.task_id).messages.count() == 1


@pytest.mark.parametrize("terminal", ["completed", "failed", "canceled", "rejected"])
def test_terminal_states_are_final(user, terminal):
    assert terminal not in ALLOWED_TRANSITIONS
    result = send(user)
    task_transition(task_id=result.task_id, state=terminal)
    for target in TaskState.values:
        with pytest.raises(TaskStateError):
            task_transition(task_id=result.task_id, state=target)
    with pytest.raises(TaskStateError):
        task_artifact_update(
            task_id=result.task_id, artifact={"artifactId": "a", "parts": [{"text": "x"}]}
        )
    task = Task.objects.get(pk=result.task_id)
    assert (task.state, task.last_seq) == (terminal, 2)


def test_transition_records_status_message_and_event(user):
    result = send(user)
    event = task_transition(
        task_id=result.task_id, state=TaskState.WORKING, message_parts=[{"text": "thinking"}]
    )
    task = Task.objects.select_related("status_message").get(pk=result.task_id)
    assert task.status_message is not None
    assert (task.status_message.role, task.status_message.parts) == (
        Role.AGENT,
        [{"text": "thinking"}],
    )
    status = event.payload["statusUpdate"]["status"]
    assert status["state"] == "TASK_STATE_WORKING"
    assert status["message"]["parts"] == [{"text": "thinking"}]
    assert status["message"]["role"] == "ROLE_AGENT"
    assert status["timestamp"].endswith("Z")
    assert _events(task) == [(1, "task", "submitted"), (2, "status-update", "working")]


def test_artifact_chunks_append_and_replace(user):
    result = send(user)
    task_transition(task_id=result.task_id, state=TaskState.WORKING)

    def chunk(text, **kwargs):
        return task_artifact_update(
            task_id=result.task_id,
            artifact={"artifactId": "out", "name": "Out", "parts": [{"text": text}]},
            **kwargs,
        )

    chunk("a")
    chunk("b", append=True)
    event = chunk("c", append=True, last_chunk=True)
    artifact = Artifact.objects.get(task_id=result.task_id)
    assert (artifact.parts, artifact.complete, artifact.name) == (
        [{"text": "a"}, {"text": "b"}, {"text": "c"}],
        True,
        "Out",
    )
    update = event.payload["artifactUpdate"]
    assert (update["append"], update["lastChunk"], update["artifact"]["parts"]) == (
        True,
        True,
        [{"text": "c"}],
    )
    chunk("fresh")  # append=False replaces the artifact
    artifact.refresh_from_db()
    assert (artifact.parts, artifact.complete) == ([{"text": "fresh"}], False)
    assert Task.objects.get(pk=result.task_id).last_seq == 6


def test_invalid_artifact_is_refused(user):
    result = send(user)
    with pytest.raises(ValueError, match="at least 1 item"):
        task_artifact_update(task_id=result.task_id, artifact={"artifactId": "a", "parts": []})
    assert not Artifact.objects.exists()


def test_cancel_persists_canceled(user):
    result = send(user)
    task = task_cancel(user=user, task_id=str(result.task_id))
    task.refresh_from_db()
    assert task.state == "canceled"
    assert _events(task)[-1] == (2, "status-update", "canceled")


def test_cancel_of_terminal_task_is_not_cancelable(user):
    result = send(user)
    task_cancel(user=user, task_id=str(result.task_id))
    with pytest.raises(errors.TaskNotCancelableError, match="already canceled"):
        task_cancel(user=user, task_id=str(result.task_id))
    assert Task.objects.get(pk=result.task_id).last_seq == 2


def test_cancel_of_foreign_task_is_not_found(user, other_user):
    result = send(other_user)
    with pytest.raises(errors.TaskNotFoundError):
        task_cancel(user=user, task_id=str(result.task_id))
    assert Task.objects.get(pk=result.task_id).state == "submitted"


def test_requeue_unfinished_enqueues_submitted_and_working_only(user, no_jobs):
    submitted = send(user).task_id
    working = send(user).task_id
    task_transition(task_id=working, state=TaskState.WORKING)
    waiting = send(user).task_id
    task_transition(task_id=waiting, state=TaskState.INPUT_REQUIRED)
    done = send(user).task_id
    task_transition(task_id=done, state=TaskState.COMPLETED)
    assert tasks_requeue_unfinished() == 2
    assert {c.args[0] for c in no_jobs.call_args_list} == {submitted, working}
