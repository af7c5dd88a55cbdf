"""The embedded channel layer under the load it was made for: worker threads sending to the
server loop at once."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

from asgiref.sync import async_to_sync

from config.layers import EmbeddedInMemoryChannelLayer

THREADS = 4
PER_THREAD = 500


async def threads_deliver_in_order(
    layer: Any, group: str, send: Callable[[str, dict[str, Any]], None], per_thread: int
) -> None:
    """THREADS threads each send per_thread messages to group with send(); every one must
    reach a subscriber on this loop, none twice, each thread's in the order it sent them."""
    channel = await layer.new_channel()
    await layer.group_add(group, channel)

    def worker(number: int) -> None:
        for seq in range(per_thread):
            send(group, {"type": "event", "worker": number, "seq": seq})

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    received: dict[int, list[int]] = {n: [] for n in range(THREADS)}
    for _ in range(THREADS * per_thread):
        message = await asyncio.wait_for(layer.receive(channel), timeout=10)
        received[message["worker"]].append(message["seq"])
    await asyncio.gather(*(asyncio.to_thread(thread.join) for thread in threads))
    await layer.group_discard(group, channel)
    assert received == {n: list(range(per_thread)) for n in range(THREADS)}


async def test_worker_threads_deliver_every_message_in_order_to_the_server_loop():
    layer = EmbeddedInMemoryChannelLayer(capacity=100_000)
    layer.bind_loop()
    await threads_deliver_in_order(
        layer,
        "task",
        lambda group, message: async_to_sync(layer.group_send)(group, message),
        PER_THREAD,
    )
