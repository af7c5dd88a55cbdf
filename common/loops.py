"""Long-lived event loops, one per purpose per process, for async code called from sync code.

``async_to_sync`` called from a thread that runs no event loop (a Celery job, a database
thread of a web process) makes a new event loop and a new thread for every call. A named
background loop here is started once per process, in a daemon thread, and every caller
hands its coroutine to it (``loop_run``): the channel-layer publisher (common/publish.py)
keeps its connections across sends, and the A2A client of delegations
(remote_agents/runner.py) runs its sessions there, away from the publisher so a session's
sync callbacks may publish while it waits. A process that forked (a Celery prefork child)
starts loops of its own on first use.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

_lock = threading.Lock()
_loops: dict[str, tuple[asyncio.AbstractEventLoop, int]] = {}


def _run(loop: asyncio.AbstractEventLoop, ready: threading.Event) -> None:
    asyncio.set_event_loop(loop)
    loop.call_soon(ready.set)
    loop.run_forever()


def background_loop(name: str) -> asyncio.AbstractEventLoop:
    """Return this process's loop of that name, started (in a daemon thread) on first use."""
    with _lock:
        known = _loops.get(name)
        if known is not None and known[1] == os.getpid() and known[0].is_running():
            return known[0]
        loop = asyncio.new_event_loop()
        ready = threading.Event()
        threading.Thread(target=_run, args=(loop, ready), name=name, daemon=True).start()
        ready.wait()
        _loops[name] = (loop, os.getpid())
        return loop


def loop_run(name: str, coroutine: Coroutine[Any, Any, T], *, timeout: float | None) -> T:
    """Run coroutine on the named background loop; wait for its result (up to timeout).

    Raises what the coroutine raises, TimeoutError after ``timeout`` seconds (the coroutine
    is cancelled), and RuntimeError on a thread that runs an event loop (it must await).
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        coroutine.close()
        raise RuntimeError(
            "loop_run() cannot be called from a thread that runs an event loop; await there"
        )
    future = asyncio.run_coroutine_threadsafe(coroutine, background_loop(name))
    try:
        return future.result(timeout)
    except TimeoutError:
        future.cancel()
        raise
