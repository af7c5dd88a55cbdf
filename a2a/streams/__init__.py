"""Task event streams: what SSE, WebSocket, Cap'n Web and blocking sends all read.

A stream subscribes to its task in this process's hub (``hub.py``: one channel-layer group
membership per task per process, shared by every local stream of it) before it reads
anything, then sends either a Task snapshot (with the sequence number it reflects) or the
stored events from a given sequence number, then live events. Doorbells carry the event, so
the common case needs no database read; a gap in sequence numbers, a queue that overflowed,
or a quiet poll interval reads the missing events from the TaskEvent log. Nothing is lost
because a doorbell was dropped.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings

from a2a.protocol.states import TERMINAL_STATES
from a2a.selectors import (
    StoredEvent,
    parse_task_id,
    task_events_after,
    task_get_for_user,
    task_snapshot,
)
from a2a.streams.hub import Signal, StreamItem, Subscription, stream_hub
from accounts.models import User

__all__ = ["MessageStream", "ResultStream", "StreamItem", "TaskEventStream"]

logger = logging.getLogger(__name__)

EVENT_PAGE = 500


class ResultStream:
    """What a streaming operation returns; bindings send ``events()`` and end."""

    task_id: str | None = None

    def events(self) -> AsyncIterator[StreamItem | None]:
        raise NotImplementedError

    async def close(self) -> None:
        """Give up the stream without sending it."""


class MessageStream(ResultStream):
    """A message-only answer (A2A §3.1.2): exactly one Message, then the stream closes."""

    def __init__(self, message: dict[str, Any]) -> None:
        self.message = message

    async def events(self) -> AsyncIterator[StreamItem | None]:
        yield StreamItem(seq=None, payload={"message": self.message}, state="")


class TaskEventStream(ResultStream):
    """The ordered events of one task for one subscriber.

    Call ``open()`` first: it checks access and raises protocol errors (TaskNotFound) before
    anything is sent. Then iterate ``events()``, which yields StreamItems, or None as a
    keep-alive tick when the stream has been idle for WEBCAP_STREAM_KEEPALIVE seconds. The
    iteration ends after a terminal event, or an interrupted one when ``stop_on_interrupt``.
    """

    def __init__(
        self,
        *,
        user: User,
        task_id: str,
        history_length: int | None = None,
        from_seq: int | None = None,
        stop_on_interrupt: bool = False,
    ) -> None:
        self.user = user
        self.task_id: str = task_id
        self.history_length = history_length
        self.from_seq = from_seq
        self.stop_on_interrupt = stop_on_interrupt
        self.last_seq = 0
        self._task_uuid: uuid.UUID | None = None
        self._subscription: Subscription | None = None
        self._first: list[StreamItem] = []
        self._page_full = False
        self._done = False
        self.snapshot_state: str | None = None

    async def open(self) -> None:
        """Subscribe to the task's events, check access and read the starting point."""
        self._task_uuid = parse_task_id(self.task_id)
        hub = stream_hub()
        if hub is not None:
            # Before the snapshot or the log is read: an event committed after that read
            # rings this subscription. Without a layer the stream polls the log (see _ring).
            self._subscription = await hub.subscribe(self._task_uuid)
        try:
            if self.from_seq is None:
                snapshot = await sync_to_async(task_snapshot)(
                    user=self.user, task_id=self.task_id, history_length=self.history_length
                )
                self._first = [
                    StreamItem(
                        seq=snapshot.seq, payload={"task": snapshot.task}, state=snapshot.state
                    )
                ]
                self.last_seq = snapshot.seq
                self.snapshot_state = snapshot.state
            else:
                task = await sync_to_async(task_get_for_user)(user=self.user, task_id=self.task_id)
                self.last_seq = max(self.from_seq - 1, 0)
                # Nothing left to send: the task has settled and the client has every event.
                settled = task.is_terminal or (self.stop_on_interrupt and task.is_interrupted)
                self._done = settled and self.last_seq >= task.last_seq
        except BaseException:
            await self._leave()
            raise

    def _ends(self, item: StreamItem) -> bool:
        return item.terminal or (self.stop_on_interrupt and item.interrupted)

    async def _stored_after(self, seq: int) -> list[StreamItem]:
        assert self._task_uuid is not None
        rows: list[StoredEvent] = await sync_to_async(task_events_after)(
            task_id=self._task_uuid, after_seq=seq, limit=EVENT_PAGE
        )
        self._page_full = len(rows) == EVENT_PAGE
        return [StreamItem(seq=r.seq, payload=r.payload, state=r.state) for r in rows]

    async def _ring(self, wait: float) -> StreamItem | Signal | None:
        if self._subscription is None:
            await asyncio.sleep(wait)
            return None
        # While the channel layer fails (Redis timing out or restarting) nothing rings and
        # the stream reads the event log every poll interval instead.
        return await self._subscription.next(wait)

    async def events(self) -> AsyncIterator[StreamItem | None]:
        """Yield the stream's items in order, None for keep-alive ticks."""
        poll = settings.WEBCAP_STREAM_POLL_INTERVAL
        keepalive = settings.WEBCAP_STREAM_KEEPALIVE
        try:
            if self._done:
                return
            for item in self._first:
                yield item
                if self._ends(item):
                    return
            pending = await self._stored_after(self.last_seq) if self.from_seq else []
            idle = 0.0
            while True:
                if not pending:
                    doorbell = await self._ring(poll)
                    if doorbell is None:
                        pending = await self._stored_after(self.last_seq)
                        if not pending:
                            idle += poll
                            if idle >= keepalive:
                                idle = 0.0
                                yield None
                            continue
                    elif doorbell is Signal.OVERFLOW:
                        # This stream fell behind and live events were left out for it.
                        pending = await self._stored_after(self.last_seq)
                    elif doorbell.seq is None or doorbell.seq <= self.last_seq:
                        continue
                    elif doorbell.seq == self.last_seq + 1:
                        pending = [doorbell]
                    else:
                        # A gap: some doorbells were dropped; the log has every event.
                        pending = await self._stored_after(self.last_seq)
                    if not pending:
                        continue
                idle = 0.0
                item, pending = pending[0], pending[1:]
                assert item.seq is not None
                self.last_seq = item.seq
                yield item
                if self._ends(item):
                    return
                if not pending and self._page_full:
                    pending = await self._stored_after(self.last_seq)
        finally:
            await self._leave()

    @property
    def nothing_left(self) -> bool:
        """A resumed stream of a task that settled, whose client already has every event."""
        return self._done

    @property
    def snapshot_state_is_terminal(self) -> bool:
        return self.snapshot_state in TERMINAL_STATES

    async def close(self) -> None:
        """Unsubscribe without iterating (for a stream that will not be sent)."""
        await self._leave()

    async def _leave(self) -> None:
        if self._subscription is not None:
            subscription, self._subscription = self._subscription, None
            await subscription.close()
