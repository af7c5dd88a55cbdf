"""One rule for a repeated messageId, the same on every binding (docs/protocol.md, "Idempotency").

A new message (no taskId) that repeats a messageId the same owner already sent, with the same
content, is a retry: it gets the first send's task (or reply) and starts nothing. The same
messageId with other content is refused as invalid params naming the messageId.
"""

from __future__ import annotations

import threading
from typing import Any, ClassVar

import pytest
from asgiref.sync import sync_to_async
from django.db import connection

from a2a.agents import Agent
from a2a.models import Message, Task, TaskEvent
from a2a.protocol.errors import InvalidParamsError
from a2a.services.tasks import message_send
from tests.a2a.bindings import BINDINGS, INVALID_PARAMS, a2a_call
from tests.a2a.conftest import sse_frames
from tests.factories import message_params, send, wire_message

pytestmark = pytest.mark.django_db(transaction=True)


def _counts() -> tuple[int, int, int]:
    return Task.objects.count(), Message.objects.count(), TaskEvent.objects.count()


counts = sync_to_async(_counts)


@pytest.mark.parametrize("binding", BINDINGS)
async def test_the_same_message_sent_twice_makes_one_task(binding, api_key):
    params = message_params("hello big world", message_id=f"retry-{binding}")

    first = await a2a_call(binding, "SendMessage", params, key=api_key)
    stored = await counts()
    again = await a2a_call(binding, "SendMessage", params, key=api_key)

    assert first.error is None
    assert again.error is None
    assert first.result["task"]["status"]["state"] == "TASK_STATE_COMPLETED"
    assert again.result == first.result  # the first result, whole
    assert await counts() == stored == (1, 1, 6)  # nothing new: no task, message or event


@pytest.mark.parametrize("binding", BINDINGS)
async def test_the_same_message_id_with_other_content_is_refused(binding, api_key):
    message_id = f"reused-{binding}"
    first = await a2a_call(
        binding, "SendMessage", message_params("one", message_id=message_id), key=api_key
    )
    stored = await counts()

    other = await a2a_call(
        binding, "SendMessage", message_params("two", message_id=message_id), key=api_key
    )

    assert other.error is not None
    assert other.error["code"] == INVALID_PARAMS[binding]
    assert other.error["message"] == (
        f"Invalid parameters: message.messageId: {message_id!r} was already sent with other "
        f"content (it started task {first.result['task']['id']}); repeat a message exactly to "
        "retry it, or give new work a new messageId"
    )
    assert await counts() == stored


async def test_a_retry_on_another_binding_is_the_same_retry(api_key):
    params = message_params("across", message_id="across-1")
    answers = [await a2a_call(b, "SendMessage", params, key=api_key) for b in BINDINGS]
    assert {a.result["task"]["id"] for a in answers} == {answers[0].result["task"]["id"]}
    assert await Task.objects.acount() == 1


async def test_a_retry_while_the_first_still_runs_returns_that_task(rpc, api_key, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False  # nothing runs it: the first stays submitted
    settings.CELERY_BROKER_URL = "memory://localhost/"
    settings.WEBCAP_BLOCKING_TIMEOUT = 0.2
    params = message_params("slow", message_id="timeout-1")
    first = (await rpc("SendMessage", params, key=api_key)).json()["result"]["task"]
    # The blocking send gave up waiting; the client sends again, and must not start the
    # work twice.
    again = (await rpc("SendMessage", params, key=api_key)).json()["result"]["task"]
    assert (again["id"], again["status"]["state"]) == (first["id"], "TASK_STATE_SUBMITTED")
    assert await Task.objects.acount() == 1


async def test_a_retried_stream_replays_the_whole_task(rpc, api_key):
    params = message_params("a b", message_id="stream-1")
    first = await sse_frames(await rpc("SendStreamingMessage", params, key=api_key))
    again = await sse_frames(await rpc("SendStreamingMessage", params, key=api_key))
    assert [f["id"] for f in again] == [f["id"] for f in first] == ["1", "2", "3", "4", "5"]
    assert [f["data"] for f in again] == [f["data"] for f in first]
    resumed = await sse_frames(
        await rpc("SendStreamingMessage", params, key=api_key, headers={"Last-Event-ID": "3"})
    )
    assert [f["id"] for f in resumed] == ["4", "5"]
    assert await Task.objects.acount() == 1


def test_owners_and_contexts_keep_their_message_ids_apart(user, other_user):
    mine = send(user, "same", message_id="shared-id")
    theirs = send(other_user, "same", message_id="shared-id")
    assert theirs.task_id != mine.task_id
    assert not theirs.duplicate
    with pytest.raises(InvalidParamsError) as refused:
        send(user, "same", message_id="shared-id", context_id="another-conversation")
    assert "'shared-id' was already sent with other content" in refused.value.message
    # Naming the context the first send made is the same message.
    context = Task.objects.get(pk=mine.task_id).context.key
    assert send(user, "same", message_id="shared-id", context_id=context).task_id == mine.task_id


def test_a_follow_up_id_does_not_make_a_new_message_a_retry(user):
    first = send(user, message_id="opening")
    task = Task.objects.get(pk=first.task_id)
    task.state = "input-required"
    task.save(update_fields=["state"])
    send(user, "answer", task_id=str(first.task_id), message_id="answer-1")
    # "answer-1" opened nothing: a new message with that id is new work.
    new = send(user, "answer", message_id="answer-1")
    assert (new.created, new.duplicate) == (True, False)


class _Greeter(Agent):
    """Answers every message with a Message, no task."""

    name = "greeter"
    description = "Says hello back."
    skills: ClassVar[list[dict[str, Any]]] = []

    def reply(self, message):
        return [{"text": f"hello, {message.parts[0].text}"}]

    def run(self, run):
        run.complete()


async def test_a_retried_message_gets_the_first_reply(rpc, api_key, settings, monkeypatch):
    monkeypatch.setitem(__import__("a2a.registry").registry.AGENTS, "greeter", _Greeter)
    settings.WEBCAP_AGENT = "greeter"
    params = message_params("bob", message_id="hi-1")
    first = (await rpc("SendMessage", params, key=api_key)).json()["result"]["message"]
    again = (await rpc("SendMessage", params, key=api_key)).json()["result"]["message"]
    assert again == first
    assert first["parts"] == [{"text": "hello, bob"}]
    assert await Message.objects.acount() == 2  # the message and the one reply


def test_the_conformance_agent_starts_new_work_for_each_message(user, settings):
    # The TCK names scenarios with its messageIds and reuses them for new tasks.
    settings.WEBCAP_AGENT = "conformance"
    first = send(user, "Blocking request", message_id="tck-complete-task-x1")
    second = send(user, "Non-blocking request", message_id="tck-complete-task-x1")
    third = send(user, "Non-blocking request", message_id="tck-complete-task-x1")
    assert len({first.task_id, second.task_id, third.task_id}) == 3


def test_simultaneous_sends_of_one_message_make_one_task(user, settings):
    # Two requests racing (a retry sent before the first answered): one waits for the other.
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = "memory://localhost/"
    results: list[Any] = []
    start = threading.Barrier(4)

    def sending() -> None:
        try:
            start.wait()
            results.append(message_send(owner=user, message=wire_message("race", message_id="r")))
        finally:
            connection.close()

    threads = [threading.Thread(target=sending) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(results) == 4
    assert len({r.task_id for r in results}) == 1
    assert sorted(r.duplicate for r in results) == [False, True, True, True]
    assert Task.objects.filter(owner=user).count() == 1
