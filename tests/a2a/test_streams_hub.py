"""The per-process fan-out hub (a2a/streams/hub.py): one group membership per task.

Many streams of one task in one process share one channel-layer channel; each still gets
every event, in order; one that falls behind reads the log instead of holding up the
others; and when the last one closes the process leaves the group and the hub forgets the task.
"""

from __future__ import annotations

import asyncio
import logging
import uuid

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from prometheus_client import REGISTRY

from a2a.services.events import task_group
from a2a.services.tasks import task_transition
from a2a.streams import TaskEventStream
from a2a.streams.hub import stream_hub
from tests.factories import send

pytestmark = pytest.mark.django_db(transaction=True)

SUBSCRIBERS = 40
UPDATES = 25


@pytest.fixture
def task_id(user, monkeypatch) -> uuid.UUID:
    # The agent's job is not run: the tests move the task themselves.
    monkeypatch.setattr("a2a.services.runs._task_run_enqueue", lambda task_id: None)
    return send(user).task_id


async def _publish(task_id: uuid.UUID) -> None:
    """Store UPDATES working events (seq 2 to UPDATES + 1), then completed."""
    for n in range(UPDATES):
        await sync_to_async(task_transition)(
            task_id=task_id, state="working", message_parts=[{"text": f"step {n}"}]
        )
    await sync_to_async(task_transition)(task_id=task_id, state="completed")


async def _follow(stream: TaskEventStream) -> list[int]:
    seqs = []
    async for item in stream.events():
        if item is not None:
            assert item.seq is not None
            seqs.append(item.seq)
    return seqs


async def _open(user, task_id: uuid.UUID, count: int) -> list[TaskEventStream]:
    streams = [TaskEventStream(user=user, task_id=str(task_id)) for _ in range(count)]
    await asyncio.gather(*(stream.open() for stream in streams))
    return streams


def _overflows() -> float:
    return REGISTRY.get_sample_value("webcap_stream_overflows_total") or 0.0


def _members(task_id: uuid.UUID) -> list[str]:
    return list(get_channel_layer().groups.get(task_group(task_id), {}))


async def test_every_subscriber_gets_every_event_in_order_through_one_membership(user, task_id):
    streams = await _open(user, task_id, SUBSCRIBERS)
    hub = stream_hub()
    assert hub is not None
    # One channel of this process in the task's group, however many streams follow it.
    assert len(_members(task_id)) == 1
    assert hub.subscribers(task_id) == SUBSCRIBERS
    following = [asyncio.create_task(_follow(stream)) for stream in streams]
    await _publish(task_id)
    results = await asyncio.wait_for(asyncio.gather(*following), timeout=20)
    # The snapshot (seq 1, submitted), then every stored event once, in order.
    assert results == [list(range(1, UPDATES + 3))] * SUBSCRIBERS
    assert _members(task_id) == []
    assert not hub.holds(task_id)


async def test_a_subscriber_that_falls_behind_reads_the_log_and_holds_up_no_one(
    user, task_id, settings, caplog
):
    settings.WEBCAP_STREAM_QUEUE = 3
    slow, *fast = await _open(user, task_id, 5)
    overflows = _overflows()
    release = asyncio.Event()

    async def follow_slowly() -> list[int]:
        seqs = []
        async for item in slow.events():
            if item is not None:
                assert item.seq is not None
                seqs.append(item.seq)
                # It reads the snapshot, then nothing until the others have every event.
                await release.wait()
        return seqs

    slow_following = asyncio.create_task(follow_slowly())
    fast_following = [asyncio.create_task(_follow(stream)) for stream in fast]
    with caplog.at_level(logging.INFO, logger="a2a.streams.hub"):
        await _publish(task_id)
        # The others finish while the slow one still sits on its snapshot.
        results = await asyncio.wait_for(asyncio.gather(*fast_following), timeout=20)
        assert not slow_following.done()
        release.set()
        slow_seqs = await asyncio.wait_for(slow_following, timeout=20)
    everything = list(range(1, UPDATES + 3))
    assert results == [everything] * len(fast)
    assert slow_seqs == everything
    assert _overflows() == overflows + 1
    assert [r.getMessage() for r in caplog.records if r.name == "a2a.streams.hub"] == [
        f"A stream of task {task_id} fell 3 events behind; it reads the rest from the log"
    ]


async def test_the_last_subscriber_out_leaves_the_group_and_the_hub_forgets_the_task(user, task_id):
    streams = await _open(user, task_id, 6)
    hub = stream_hub()
    assert hub is not None
    following = [asyncio.create_task(_follow(stream)) for stream in streams[:4]]
    await asyncio.sleep(0.05)
    # Two disconnect mid-stream, two are closed without being read, two finish.
    following[0].cancel()
    following[1].cancel()
    await asyncio.gather(following[0], following[1], return_exceptions=True)
    await streams[4].close()
    assert hub.subscribers(task_id) == 3
    assert len(_members(task_id)) == 1
    await streams[5].close()
    await _publish(task_id)
    await asyncio.wait_for(asyncio.gather(*following[2:]), timeout=20)
    assert _members(task_id) == []
    assert not hub.holds(task_id)
    assert hub.subscribers(task_id) == 0
    assert [t for t in asyncio.all_tasks() if t.get_name().startswith("stream-hub")] == []


async def test_a_subscriber_after_the_last_left_joins_again(user, task_id):
    (first,) = await _open(user, task_id, 1)
    await first.close()
    assert _members(task_id) == []
    (second,) = await _open(user, task_id, 1)
    following = asyncio.create_task(_follow(second))
    await _publish(task_id)
    assert await asyncio.wait_for(following, timeout=20) == list(range(1, UPDATES + 3))
    assert _members(task_id) == []


async def test_a_subscriber_that_gives_up_while_joining_does_not_stop_the_join(
    user, task_id, monkeypatch
):
    layer = get_channel_layer()
    group_add = layer.group_add
    joining = asyncio.Event()

    async def slow_group_add(group: str, channel: str) -> None:
        joining.set()
        await asyncio.sleep(0.2)
        await group_add(group, channel)

    monkeypatch.setattr(layer, "group_add", slow_group_add)
    quitter = asyncio.create_task(_open(user, task_id, 1))
    await joining.wait()
    staying = asyncio.create_task(_open(user, task_id, 1))
    hub = stream_hub()
    assert hub is not None
    while hub.subscribers(task_id) < 2:
        await asyncio.sleep(0.01)
    quitter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await quitter
    (stayer,) = await staying
    assert hub.subscribers(task_id) == 1
    assert len(_members(task_id)) == 1
    following = asyncio.create_task(_follow(stayer))
    await _publish(task_id)
    assert await asyncio.wait_for(following, timeout=20) == list(range(1, UPDATES + 3))
    assert _members(task_id) == []
