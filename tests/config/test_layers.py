"""The embedded channel layer under the load it was made for: worker threads sending to the
server loop at once."""

from __future__ import annotations

import asyncio
import threading

from asgiref.sync import async_to_sync

from config.layers import EmbeddedInMemoryChannelLayer

THREADS = 4
PER_THREAD = 500


async def test_worker_threads_deliver_every_message_in_order_to_the_server_loop():
    layer = EmbeddedInMemoryChannelLayer(capacity=100_000)
    layer.bind_loop()
    channel = await layer.new_channel()
    await layer.group_add("task", channel)

    def worker(number: int) -> None:
        send = async_to_sync(layer.group_send)
        for seq in range(PER_THREAD):
            send("task", {"type": "event", "worker": number, "seq": seq})

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    received: dict[int, list[int]] = {n: [] for n in range(THREADS)}
    for _ in range(THREADS * PER_THREAD):
        message = await asyncio.wait_for(layer.receive(channel), timeout=10)
        received[message["worker"]].append(message["seq"])
    await asyncio.gather(*(asyncio.to_thread(thread.join) for thread in threads))
    # None lost, none repeated, each sender's messages in the order it sent them.
    assert received == {n: list(range(PER_THREAD)) for n in range(THREADS)}
