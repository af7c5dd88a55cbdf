"""The embedded channel layer: Channels' in-memory layer, made safe for worker threads.

The stock ``InMemoryChannelLayer`` keeps plain dicts and asyncio queues. Used through
``async_to_sync`` from a Celery worker thread it runs on a second event loop: deliveries
wait for the server loop's next timer (~0.6 s median) and concurrent access corrupts its
dicts (lost messages under load). This layer owns one loop, the server's, and forwards every
call made on any other loop to it with ``run_coroutine_threadsafe``. Measured on a 2-core
machine when the embedded mode was designed: 8,000 of 8,000 messages delivered under stress
(the stock layer lost 7-73), ~1-3 ms from a worker's send to an SSE or WebSocket subscriber.
tests/config/test_layers.py keeps the no-loss, in-order part true.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from channels.layers import InMemoryChannelLayer

T = TypeVar("T")


class EmbeddedInMemoryChannelLayer(InMemoryChannelLayer):
    """All state is touched on one loop; calls from other loops or threads are forwarded."""

    # Never wedge a worker thread on a stuck or stopped server loop.
    forward_timeout = 10.0

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.loop: asyncio.AbstractEventLoop | None = None

    def bind_loop(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """Make loop (default: the running one) the owner of the layer's state."""
        self.loop = loop or asyncio.get_running_loop()

    async def _run(
        self, coro: Coroutine[Any, Any, T], *, bind: bool = False, limit: float | None = None
    ) -> T:
        here = asyncio.get_running_loop()
        owner = self.loop
        if owner is None or owner.is_closed():
            # Not bound yet (or the owner went away, as with per-test loops): a subscriber's
            # loop becomes the owner, since that is where the server runs.
            if bind:
                self.loop = here
            return await coro
        if owner is here or not owner.is_running():
            return await coro
        future = asyncio.run_coroutine_threadsafe(coro, owner)
        return await asyncio.wait_for(asyncio.wrap_future(future), limit)

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        await self._run(super().send(channel, message), limit=self.forward_timeout)

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        await self._run(super().group_send(group, message), limit=self.forward_timeout)

    async def group_add(self, group: str, channel: str) -> None:
        await self._run(super().group_add(group, channel), bind=True, limit=self.forward_timeout)

    async def group_discard(self, group: str, channel: str) -> None:
        await self._run(super().group_discard(group, channel), limit=self.forward_timeout)

    async def receive(self, channel: str) -> dict[str, Any]:
        return await self._run(super().receive(channel), bind=True)

    async def flush(self) -> None:
        await self._run(super().flush(), limit=self.forward_timeout)
