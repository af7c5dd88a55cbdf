"""A stream whose channel layer fails (Redis timing out or restarting) reads the event log.

The doorbells on the channel layer only save a poll; every event is in the TaskEvent log.
"""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from redis.exceptions import TimeoutError as RedisTimeout

from a2a.services.tasks import task_transition
from a2a.streams import TaskEventStream
from tests.factories import send

pytestmark = pytest.mark.django_db(transaction=True)


async def _follow(stream: TaskEventStream) -> list[str]:
    states = []
    async for item in stream.events():
        if item is not None:
            states.append(item.state)
    return states


@pytest.mark.parametrize("failing", ["receive", "group_add"])
async def test_a_failing_layer_leaves_the_stream_polling_the_log(user, monkeypatch, failing):
    # The agent's job is not run: the test moves the task itself.
    monkeypatch.setattr("a2a.services.runs._task_run_enqueue", lambda task_id: None)
    result = await sync_to_async(send)(user)
    layer = get_channel_layer()

    async def fail(*args: object, **kwargs: object) -> None:
        raise RedisTimeout("Timeout reading from socket")

    monkeypatch.setattr(layer, failing, fail)
    stream = TaskEventStream(user=user, task_id=str(result.task_id), from_seq=1)
    await stream.open()
    following = asyncio.create_task(_follow(stream))
    await asyncio.sleep(0.3)
    await sync_to_async(task_transition)(task_id=result.task_id, state="working")
    await sync_to_async(task_transition)(task_id=result.task_id, state="completed")
    states = await asyncio.wait_for(following, timeout=10)
    assert states == ["submitted", "working", "completed"]
