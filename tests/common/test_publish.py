"""Channel-layer sends from synchronous code (common/publish.py): delivered, in order, on
one loop per process, and refused on a thread that runs a loop."""

from __future__ import annotations

import asyncio
import threading

import pytest
from channels.layers import get_channel_layer

from common import publish
from common.publish import group_send_blocking

THREADS = 4
PER_THREAD = 200


async def test_threads_deliver_every_message_in_order_through_one_loop():
    layer = get_channel_layer()
    layer.bind_loop()
    channel = await layer.new_channel()
    await layer.group_add("publish-test", channel)
    loops = set()

    def worker(number: int) -> None:
        for seq in range(PER_THREAD):
            group_send_blocking("publish-test", {"type": "event", "worker": number, "seq": seq})
        loops.add(publish._loop)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    received: dict[int, list[int]] = {n: [] for n in range(THREADS)}
    for _ in range(THREADS * PER_THREAD):
        message = await asyncio.wait_for(layer.receive(channel), timeout=10)
        received[message["worker"]].append(message["seq"])
    await asyncio.gather(*(asyncio.to_thread(thread.join) for thread in threads))
    await layer.group_discard("publish-test", channel)
    assert received == {n: list(range(PER_THREAD)) for n in range(THREADS)}
    # Every send of the process went through the same long-lived loop.
    assert len(loops) == 1
    assert next(iter(loops)).is_running()


async def test_a_thread_that_runs_a_loop_is_told_to_await_instead():
    with pytest.raises(RuntimeError, match="await the layer's group_send"):
        group_send_blocking("publish-test", {"type": "event"})
