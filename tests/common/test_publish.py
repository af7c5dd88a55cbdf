"""Channel-layer sends from synchronous code (common/publish.py): delivered, in order, on
one loop per process, and refused on a thread that runs a loop."""

from __future__ import annotations

from typing import Any

import pytest
from channels.layers import get_channel_layer

from common.loops import background_loop
from common.publish import PUBLISHER_LOOP, group_send_blocking
from tests.config.test_layers import threads_deliver_in_order


async def test_threads_deliver_every_message_in_order_through_one_loop():
    layer = get_channel_layer()
    layer.bind_loop()
    loops = set()

    def send(group: str, message: dict[str, Any]) -> None:
        group_send_blocking(group, message)
        loops.add(background_loop(PUBLISHER_LOOP))

    await threads_deliver_in_order(layer, "publish-test", send, per_thread=200)
    # Every send of the process went through the same long-lived loop, still running.
    [loop] = loops
    assert loop is not None
    assert loop.is_running()


async def test_a_thread_that_runs_a_loop_is_told_to_await_instead():
    with pytest.raises(RuntimeError, match="await the layer's group_send"):
        group_send_blocking("publish-test", {"type": "event"})
