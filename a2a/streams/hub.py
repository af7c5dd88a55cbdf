"""The fan-out of task events in one process: one channel-layer subscription per task.

Every stream of a task served by this process shares one channel in the task's group: the
first subscriber joins the group, the last one leaves it. One reader per task receives each
doorbell once, makes it a ``StreamItem`` once and hands that same object to every local
subscriber's bounded queue. Before, each subscriber had a channel of its own, so the channel
layer copied (and, on Redis, stored and decoded) every event once per subscriber.

A subscriber that falls more than its queue behind is not waited for: it stops receiving
live items, reads what it holds, is then told ``Signal.OVERFLOW`` and reads the rest from the
TaskEvent log (``a2a/streams``). Nothing is dropped without the subscriber knowing, and the
log stays the truth: the hub only saves polls.

A hub belongs to one event loop (the server's) and one channel layer.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import uuid
import weakref
from dataclasses import dataclass
from typing import Any

from channels.layers import BaseChannelLayer, get_channel_layer
from django.conf import settings
from redis.exceptions import RedisError

from a2a.metrics import stream_overflowed
from a2a.protocol.states import INTERRUPTED_STATES, TERMINAL_STATES
from a2a.services.events import task_group

logger = logging.getLogger(__name__)

# What a channel layer raises while Redis times out or restarts (TimeoutError is an OSError).
LAYER_ERRORS = (RedisError, OSError)


@dataclass(frozen=True)
class StreamItem:
    """One StreamResponse with its task's event sequence number and the state after it.

    A message-only answer has no task, so no sequence number and no state.
    """

    seq: int | None
    payload: dict[str, Any]
    state: str

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL_STATES

    @property
    def interrupted(self) -> bool:
        return self.state in INTERRUPTED_STATES


class Signal(enum.Enum):
    """What a subscription says instead of an item."""

    # Live items were left out while the queue was full: read the log from the last seq.
    OVERFLOW = "overflow"


class Subscription:
    """One stream's place among its task's local subscribers: a bounded queue of live items."""

    def __init__(self, hub: StreamHub, topic: _Topic, size: int) -> None:
        self._hub = hub
        self._topic = topic
        self._queue: asyncio.Queue[StreamItem] = asyncio.Queue(maxsize=size)
        self._overflowed = False
        self._closed = False

    @property
    def task_id(self) -> uuid.UUID:
        return self._topic.task_id

    def offer(self, item: StreamItem) -> None:
        """Queue a live item without waiting; once full, leave items out until drained."""
        if self._overflowed:
            return
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            self._overflowed = True
            stream_overflowed()
            logger.info(
                "A stream of task %s fell %d events behind; it reads the rest from the log",
                self._topic.task_id,
                self._queue.maxsize,
            )

    async def next(self, wait: float) -> StreamItem | Signal | None:
        """Return the next live item, OVERFLOW after a gap, or None when wait passed."""
        if not self._queue.empty():
            return self._queue.get_nowait()
        if self._overflowed:
            # Everything queued before the gap has been read, in order; the rest is in the log.
            self._overflowed = False
            return Signal.OVERFLOW
        try:
            # asyncio.timeout, not wait_for: no task per wait, and an item that arrives as
            # the time runs out stays in the queue for the next call.
            async with asyncio.timeout(wait):
                return await self._queue.get()
        except TimeoutError:
            return None

    async def close(self) -> None:
        """Leave the task's local subscribers; the last one out leaves the group."""
        if not self._closed:
            self._closed = True
            await self._hub.unsubscribe(self)


class _Topic:
    """The local subscribers of one task and the reader that feeds them."""

    def __init__(self, task_id: uuid.UUID) -> None:
        self.task_id = task_id
        self.group = task_group(task_id)
        self.subscribers: set[Subscription] = set()
        self.channel: str | None = None
        self.joined: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.reader: asyncio.Task[None] | None = None


class StreamHub:
    """The topics of one event loop on one channel layer, by task id."""

    def __init__(self, layer: BaseChannelLayer) -> None:
        self.layer = layer
        self._topics: dict[uuid.UUID, _Topic] = {}
        self._leaving: set[asyncio.Task[None]] = set()

    def subscribers(self, task_id: uuid.UUID) -> int:
        """Return how many local streams follow the task (0: the hub holds nothing for it)."""
        topic = self._topics.get(task_id)
        return len(topic.subscribers) if topic is not None else 0

    def holds(self, task_id: uuid.UUID) -> bool:
        """Whether the hub has any state for the task."""
        return task_id in self._topics

    async def subscribe(self, task_id: uuid.UUID) -> Subscription:
        """Add a subscriber; return once this process is in the task's group (or gave up).

        A stream reads its snapshot or the log only after this returns, so no event
        committed after that read can miss it. If the group could not be joined the
        subscription never receives an item and its stream polls the log.
        """
        topic = self._topics.get(task_id)
        if topic is None:
            topic = self._topics[task_id] = _Topic(task_id)
            topic.reader = asyncio.create_task(self._read(topic), name=f"stream-hub {task_id}")
        subscription = Subscription(self, topic, settings.WEBCAP_STREAM_QUEUE)
        # In the set before the join ends: it gets every doorbell the reader receives.
        topic.subscribers.add(subscription)
        try:
            # Shielded: one subscriber giving up does not stop the join the others wait for.
            await asyncio.shield(topic.joined)
        except BaseException:
            await subscription.close()
            raise
        return subscription

    async def unsubscribe(self, subscription: Subscription) -> None:
        """Remove a subscriber; with the last one, stop the reader and leave the group."""
        topic = subscription._topic
        topic.subscribers.discard(subscription)
        if topic.subscribers:
            return
        if self._topics.get(topic.task_id) is topic:
            del self._topics[topic.task_id]
        # Shielded: a subscriber cancelled while it leaves (a client that went away) still
        # takes the process out of the group; a later subscriber joins with a new channel.
        leaving = asyncio.create_task(self._leave(topic), name=f"stream-hub leave {topic.task_id}")
        self._leaving.add(leaving)
        leaving.add_done_callback(self._leaving.discard)
        await asyncio.shield(leaving)

    async def _leave(self, topic: _Topic) -> None:
        if topic.reader is not None and not topic.reader.done():
            topic.reader.cancel()
            await asyncio.wait([topic.reader])
        joined = topic.joined.done() and not topic.joined.cancelled() and topic.joined.result()
        if joined and topic.channel is not None:
            try:
                await self.layer.group_discard(topic.group, topic.channel)
            except Exception:
                logger.warning("Could not leave the group of task %s", topic.task_id, exc_info=True)

    async def _join(self, topic: _Topic) -> bool:
        try:
            topic.channel = await self.layer.new_channel()
            await self.layer.group_add(topic.group, topic.channel)
        except LAYER_ERRORS as exc:
            # No doorbells then: this topic's streams poll the event log, and the next
            # subscriber of the task tries to join again.
            logger.warning("Streams of task %s poll the event log: %r", topic.task_id, exc)
            if self._topics.get(topic.task_id) is topic:
                del self._topics[topic.task_id]
            return False
        return True

    async def _read(self, topic: _Topic) -> None:
        try:
            joined = await self._join(topic)
            topic.joined.set_result(joined)
            if joined:
                await self._deliver(topic)
        except Exception:
            # A bug, not an outage: this topic's streams poll the log from now on.
            logger.exception("The stream hub of task %s stopped", topic.task_id)
            if self._topics.get(topic.task_id) is topic:
                del self._topics[topic.task_id]
        finally:
            if not topic.joined.done():
                topic.joined.set_result(False)

    async def _deliver(self, topic: _Topic) -> None:
        assert topic.channel is not None
        failing = False
        while True:
            try:
                doorbell = await self.layer.receive(topic.channel)
            except LAYER_ERRORS as exc:
                # Redis timing out or restarting: the streams read the log every poll
                # interval meanwhile. A Redis that restarted empty forgot the group: join again.
                if not failing:
                    logger.warning("Streams of task %s poll the event log: %r", topic.task_id, exc)
                    failing = True
                await asyncio.sleep(settings.WEBCAP_STREAM_POLL_INTERVAL)
                with contextlib.suppress(*LAYER_ERRORS):
                    await self.layer.group_add(topic.group, topic.channel)
                continue
            failing = False
            item = StreamItem(
                seq=doorbell["seq"], payload=doorbell["payload"], state=doorbell["state"]
            )
            for subscription in topic.subscribers:
                subscription.offer(item)


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, StreamHub] = weakref.WeakKeyDictionary()


def stream_hub() -> StreamHub | None:
    """Return the running loop's hub on the default channel layer; None without a layer."""
    layer = get_channel_layer()
    if layer is None:
        return None
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None or hub.layer is not layer:
        hub = _hubs[loop] = StreamHub(layer)
    return hub
