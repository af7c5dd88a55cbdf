"""A task is read from its row alone: the wire history and artifacts it carries
(``Task.wire_history``, ``wire_artifacts``) must be exactly what its Message and Artifact rows
say, after every kind of change, for every historyLength, on every read and every binding.

``recomputed`` rebuilds the wire Task from the rows, the way GetTask answered before the row
carried them; a writer that forgot to keep the row's copy would make these tests fail.
"""

from __future__ import annotations

import base64
import importlib
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.apps import apps

from a2a.models import Artifact, ArtifactVersion, Message, Task
from a2a.protocol import convert
from a2a.protocol import types as wire
from a2a.protocol.errors import TaskNotFoundError
from a2a.protocol.handlers import _cancel as cancel_answer
from a2a.registry import FollowUp, agent_find
from a2a.selectors import task_snapshot, task_wire_for_user, tasks_list_for_user
from a2a.services.messages import message_send
from a2a.services.shares import task_share_set
from a2a.services.tasks import SendResult, task_artifact_update, task_transition
from accounts.models import User
from tests.a2a.bindings import BINDINGS, a2a_call
from tests.factories import message_params, send, wire_message

HISTORY_LENGTHS = (None, 0, 1, 2, 3, 100)
# File parts go to a folder of each test's own.
pytestmark = pytest.mark.usefixtures("artifact_folder")
OUTCOME = {
    "data": {"taskOutcome": {"completedRequest": False, "toolCalls": []}},
    "mediaType": "application/json",
}


def recomputed(task_id: Any, history_length: int | None) -> dict[str, Any]:
    """Return the wire Task rebuilt from the Message and Artifact rows."""
    task = Task.objects.select_related("context", "status_message").get(pk=task_id)
    key = task.context.key
    messages = list(Message.objects.filter(task=task).order_by("position"))
    if history_length is not None:
        messages = messages[-history_length:] if history_length else []
    artifacts = list(Artifact.objects.filter(task=task).order_by("created_at", "id"))
    data: dict[str, Any] = {
        "id": str(task.id),
        "contextId": key,
        "status": convert.status_to_wire(task, context_key=key),
    }
    if artifacts:
        data["artifacts"] = [convert.artifact_to_wire(a) for a in artifacts]
    if messages:
        data["history"] = [convert.message_to_wire(m, context_key=key) for m in messages]
    if task.metadata:
        data["metadata"] = task.metadata
    return data


def assert_fresh(user: User, task_id: Any) -> dict[str, Any]:
    """Check GetTask and the stream snapshot for every historyLength; return the whole task."""
    for length in HISTORY_LENGTHS:
        expected = recomputed(task_id, length)
        got = task_wire_for_user(user=user, task_id=str(task_id), history_length=length)
        assert got == expected, length
        snapshot = task_snapshot(user=user, task_id=str(task_id), history_length=length)
        assert snapshot.task == expected, length
        assert snapshot.seq == Task.objects.get(pk=task_id).last_seq
    return recomputed(task_id, None)


def _chunk(artifact_id: str, *parts: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"artifactId": artifact_id, "parts": list(parts), **fields}


@pytest.mark.django_db
def test_every_change_keeps_the_row_s_history_and_artifacts_exact(user, monkeypatch):
    sent = message_send(
        owner=user, message=wire_message("hello"), request_metadata={"source": "test"}
    )
    assert isinstance(sent, SendResult)
    task_id = sent.task_id
    assert assert_fresh(user, task_id)["history"][0]["parts"] == [{"text": "hello"}]

    task_transition(task_id=task_id, state="working")
    task_transition(task_id=task_id, state="working", message_parts=[{"text": "thinking"}])
    assert len(assert_fresh(user, task_id)["history"]) == 2

    task_artifact_update(task_id=task_id, artifact=_chunk("a", {"text": "one "}))
    task_artifact_update(
        task_id=task_id, artifact=_chunk("a", {"text": "two "}, metadata={"k": 1}), append=True
    )
    picture = {
        "raw": base64.b64encode(b"\x89PNG picture").decode(),
        "mediaType": "image/png",
        "filename": "p.png",
    }
    task_artifact_update(
        task_id=task_id,
        artifact=_chunk("b", picture, name="Picture", description="a file", extensions=["x"]),
        last_chunk=True,
    )
    task_artifact_update(
        task_id=task_id,
        artifact=_chunk("a", {"text": "three"}, metadata={"j": 2}),
        append=True,
        last_chunk=True,
    )
    whole = assert_fresh(user, task_id)
    assert [a["artifactId"] for a in whole["artifacts"]] == ["a", "b"]
    assert whole["artifacts"][0]["parts"] == [
        {"text": "one "},
        {"text": "two "},
        {"text": "three"},
    ]
    assert whole["artifacts"][0]["metadata"] == {"k": 1, "j": 2}
    assert whole["artifacts"][1]["parts"][0]["url"].startswith("https://agents.example.com/")

    # A chunk that replaces "a" starts its second version; "a" keeps its place.
    task_artifact_update(task_id=task_id, artifact=_chunk("a", {"text": "again"}))
    whole = assert_fresh(user, task_id)
    assert [a["artifactId"] for a in whole["artifacts"]] == ["a", "b"]
    assert whole["artifacts"][0]["parts"] == [{"text": "again"}]
    assert ArtifactVersion.objects.get(artifact__task_id=task_id).version == 1

    task_transition(
        task_id=task_id, state="input-required", message_parts=[{"text": "which?"}, OUTCOME]
    )
    assert assert_fresh(user, task_id)["history"][-1]["parts"][1] == OUTCOME

    # A follow-up the agent takes without resuming: the user's message and the status it
    # keeps waiting with.
    agent = type(agent_find(Task.objects.get(pk=task_id).agent))
    monkeypatch.setattr(
        agent, "on_follow_up", lambda *a, **k: FollowUp(resume=False, ask=[{"text": "and?"}])
    )
    send(user, "this one", task_id=str(task_id))
    history = assert_fresh(user, task_id)["history"]
    assert [m["parts"][0]["text"] for m in history[-2:]] == ["this one", "and?"]

    # A follow-up that resumes the task: the user's message, no status message.
    monkeypatch.undo()
    send(user, "that one", task_id=str(task_id))
    whole = assert_fresh(user, task_id)
    assert whole["history"][-1]["parts"] == [{"text": "that one"}]
    assert "message" not in whole["status"]

    # CancelTask answers from the task it just changed, reading nothing more.
    canceled = cancel_answer(user=user, task_id=str(task_id))
    assert canceled == assert_fresh(user, task_id)
    assert canceled["status"]["state"] == "TASK_STATE_CANCELED"


@pytest.mark.django_db
def test_a_follow_up_that_keeps_a_task_waiting_without_a_status_message(user, monkeypatch):
    task_id = send(user).task_id
    task_transition(task_id=task_id, state="input-required")
    agent = type(agent_find(Task.objects.get(pk=task_id).agent))
    monkeypatch.setattr(agent, "on_follow_up", lambda *a, **k: FollowUp(resume=False))

    send(user, "more input", task_id=str(task_id))

    whole = assert_fresh(user, task_id)
    assert whole["status"]["state"] == "TASK_STATE_INPUT_REQUIRED"
    assert [m["parts"] for m in whole["history"]][-1] == [{"text": "more input"}]


@pytest.mark.django_db
def test_a_shared_reader_sees_the_owner_s_answer_and_a_stranger_sees_nothing(
    user, other_user, django_user_model
):
    task_id = str(send(user).task_id)
    task_artifact_update(task_id=task_id, artifact=_chunk("a", {"text": "result"}))
    stranger = django_user_model.objects.create(username="carol")
    task_share_set(user=user, task_id=task_id, username=other_user.username, permission="view")
    assert assert_fresh(other_user, task_id) == assert_fresh(user, task_id)
    with pytest.raises(TaskNotFoundError):
        task_wire_for_user(user=stranger, task_id=task_id, history_length=None)
    with pytest.raises(TaskNotFoundError):
        task_snapshot(user=stranger, task_id=task_id, history_length=None)


@pytest.mark.django_db
@pytest.mark.parametrize("history_length", HISTORY_LENGTHS)
@pytest.mark.parametrize("include_artifacts", [False, True])
def test_list_tasks_answers_what_the_rows_say(user, history_length, include_artifacts):
    bare = send(user, "nothing yet").task_id
    busy = send(user, "busy").task_id
    task_transition(task_id=busy, state="working", message_parts=[{"text": "on it"}])
    task_artifact_update(task_id=busy, artifact=_chunk("a", {"text": "x"}), last_chunk=True)
    request = wire.ListTasksRequest(
        history_length=history_length, include_artifacts=include_artifacts
    )

    listed = {t["id"]: t for t in tasks_list_for_user(user=user, request=request)["tasks"]}

    for task_id in (bare, busy):
        expected = recomputed(task_id, history_length)
        expected.pop("artifacts", None)
        if include_artifacts:
            # A2A §3.1.4: with includeArtifacts the field is there even when empty.
            expected["artifacts"] = recomputed(task_id, None).get("artifacts", [])
        assert listed[str(task_id)] == expected


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("binding", BINDINGS)
async def test_get_task_on_every_binding_answers_what_the_rows_say(binding, user, api_key):
    # The echo agent runs (on commit): created, working, one appended chunk per word, done.
    sent = await a2a_call(binding, "SendMessage", message_params("one two three"), key=api_key)
    task = sent.result.get("task", sent.result)
    assert task["status"]["state"] == "TASK_STATE_COMPLETED"

    answer = await a2a_call(binding, "GetTask", {"id": task["id"]}, key=api_key)

    assert answer.error is None, answer.error
    assert answer.result == await sync_to_async(recomputed)(task["id"], None)
    assert answer.result["artifacts"][0]["parts"]


@pytest.mark.django_db
def test_the_migration_fills_what_the_services_wrote(user):
    task_id = send(user, "first").task_id
    task_transition(task_id=task_id, state="working", message_parts=[{"text": "on it"}])
    task_artifact_update(task_id=task_id, artifact=_chunk("a", {"text": "x"}, name="A"))
    task_artifact_update(task_id=task_id, artifact=_chunk("b", {"text": "y"}))
    task_artifact_update(task_id=task_id, artifact=_chunk("a", {"text": "z"}), append=True)
    empty = send(user, "second").task_id
    written = {
        t.pk: (t.wire_history, t.wire_artifacts)
        for t in Task.objects.filter(pk__in=[task_id, empty])
    }
    Task.objects.update(wire_history=[], wire_artifacts=[])

    migration = importlib.import_module("a2a.migrations.0011_task_wire_snapshots")
    migration._fill(apps, None)

    assert {
        t.pk: (t.wire_history, t.wire_artifacts)
        for t in Task.objects.filter(pk__in=[task_id, empty])
    } == written
    assert len(written[task_id][0]) == 2
    assert len(written[task_id][1]) == 2
