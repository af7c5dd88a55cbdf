"""Task event streams: what SSE, WebSocket and blocking sends all read.

A stream joins the task's channel-layer group before it reads anything, then sends either a
Task snapshot (with the sequence number it reflects) or the stored events from a given
sequence number, then live events. Doorbells carry the event, so the common case needs no
database read; a gap in sequence numbers, or a quiet poll interval, reads the missing events
from the TaskEvent log. Nothing is lost because a doorbell was dropped.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from asgiref.sync import sync_to_async
from channels.layers import BaseChannelLayer, get_channel_layer
from django.conf import settings
from redis.exceptions import RedisError

from a2a.protocol.states import INTERRUPTED_STATES, TERMINAL_STATES
from a2a.selectors import (
    StoredEvent,
    parse_task_id,
    task_events_after,
    task_get_for_user,
    task_snapshot,
)
from a2a.services.events import task_group
from accounts.models import User

logger = logging.getLogger(__name__)

EVENT_PAGE = 500


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
        self._layer: BaseChannelLayer | None = None
        self._channel: str | None = None
        self._first: list[StreamItem] = []
        self._page_full = False
        self._done = False
        self._layer_failed = False
        self.snapshot_state: str | None = None

    async def open(self) -> None:
        """Join the task's group, check access and read the starting point."""
        self._task_uuid = parse_task_id(self.task_id)
        self._layer = get_channel_layer()
        if self._layer is not None:
            try:
                self._channel = await self._layer.new_channel()
                await self._layer.group_add(task_group(self._task_uuid), self._channel)
            except (RedisError, OSError) as exc:
                # No doorbells then: the stream polls the event log (see _ring).
                self._layer_lost(exc)
                self._layer, self._channel = None, None
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

    async def _ring(self, wait: float) -> dict[str, Any] | None:
        if self._layer is None or self._channel is None:
            await asyncio.sleep(wait)
            return None
        try:
            return await asyncio.wait_for(self._layer.receive(self._channel), wait)
        except TimeoutError:
            return None
        except (RedisError, OSError) as exc:
            # The doorbell only saves a poll: while the channel layer fails (Redis timing out
            # or restarting) the stream reads the event log every poll interval instead.
            self._layer_lost(exc)
            await asyncio.sleep(wait)
            return None

    def _layer_lost(self, exc: Exception) -> None:
        """Say once per stream that it reads the event log without doorbells."""
        if not self._layer_failed:
            logger.warning("Stream of task %s polls the event log: %r", self.task_id, exc)
            self._layer_failed = True

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
                    elif doorbell["seq"] <= self.last_seq:
                        continue
                    elif doorbell["seq"] == self.last_seq + 1:
                        pending = [
                            StreamItem(
                                seq=doorbell["seq"],
                                payload=doorbell["payload"],
                                state=doorbell["state"],
                            )
                        ]
                    else:
                        # A gap: some doorbells were dropped; the log has every event.
                        pending = await self._stored_after(self.last_seq)
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
        """Leave the task's group without iterating (for a stream that will not be sent)."""
        await self._leave()

    async def _leave(self) -> None:
        if self._layer is not None and self._channel is not None and self._task_uuid is not None:
            channel, self._channel = self._channel, None
            try:
                await self._layer.group_discard(task_group(self._task_uuid), channel)
            except Exception:
                logger.warning(
                    "Could not leave the group of task %s", self._task_uuid, exc_info=True
                )
