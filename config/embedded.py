"""The embedded mode: a Celery worker on the in-memory broker, inside the server process.

The worker is a bare ``WorkController`` with a thread pool in a daemon thread: no signal
handlers, no banner, no stdout takeover (``app.Worker`` would hijack stdout and the root
logger). On start, tasks a previous process left submitted or working are enqueued again,
because the in-memory broker forgets what was queued. On shutdown the worker stops taking
jobs and lets running ones finish.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from typing import Any

from celery.worker import state as worker_state
from channels.layers import get_channel_layer

from a2a.registry import agent_warm_up
from a2a.services.push import push_deliveries_resume
from a2a.services.runs import tasks_requeue_unfinished
from config.celery import app

logger = logging.getLogger(__name__)

_worker = None
_thread: threading.Thread | None = None


def start_worker(ready_timeout: float = 30.0) -> None:
    """Start the in-process worker and wait until it consumes."""
    global _worker, _thread
    # The Django fixup would run the system checks again in the worker.
    os.environ.setdefault("CELERY_SKIP_CHECKS", "1")
    app.set_default()
    ready = threading.Event()
    worker_state.should_stop = None
    worker_state.should_terminate = None
    _worker = app.WorkController(
        hostname=f"embedded-{os.getpid()}@{socket.gethostname()}",
        pool=app.conf.worker_pool,
        concurrency=app.conf.worker_concurrency,
        without_heartbeat=True,
        without_mingle=True,
        without_gossip=True,
        ready_callback=lambda consumer: ready.set(),
    )
    _thread = threading.Thread(target=_worker.start, name="celery-embedded", daemon=True)
    _thread.start()
    if not ready.wait(ready_timeout):
        raise RuntimeError("The embedded Celery worker did not start")
    logger.info("Embedded worker started with %s threads", app.conf.worker_concurrency)
    agent_warm_up()


def stop_worker(timeout: float = 30.0) -> bool:
    """Stop consuming, let running jobs finish, and join; return whether it stopped."""
    if _thread is None or not _thread.is_alive():
        return True
    # The consumer loop checks this flag at least every two seconds.
    worker_state.should_stop = 0  # type: ignore[assignment]
    _thread.join(timeout)
    if _thread.is_alive():
        worker_state.should_terminate = 0  # type: ignore[assignment]
        _thread.join(5)
    return not _thread.is_alive()


def install_into_daphne() -> None:
    """Start the worker and tie it to daphne's loop and shutdown (call before reactor.run)."""
    # Imported here: importing the reactor installs one, and daphne must have installed its
    # own first.
    from twisted.internet import reactor as _reactor
    from twisted.internet import threads

    if _thread is not None:
        return
    # The installed reactor is daphne's AsyncioSelectorReactor; the stubs only know the module.
    reactor: Any = _reactor
    start_worker()
    layer = get_channel_layer()
    if layer is not None and hasattr(layer, "bind_loop"):
        # The loop daphne serves on; the asyncio reactor keeps it here.
        layer.bind_loop(reactor._asyncioEventloop)
    # Drain in a thread so the loop keeps delivering events from finishing jobs.
    reactor.addSystemEventTrigger("before", "shutdown", threads.deferToThread, stop_worker)
    tasks_requeue_unfinished()
    # This process is the only deliverer: leases of the last one died with it.
    push_deliveries_resume(release_all_leases=True)
