"""The worker heartbeat: the time a worker last ran ``worker_heartbeat_job``, in the cache.

Beat sends the job every 15 s (``CELERY_BEAT_SCHEDULE``; in embedded mode a thread of the
server does, ``observability/workers.py``); the scrape reads the time back
(``observability/collector.py``) and the worker-down alert watches it.
"""

from __future__ import annotations

import time

from django.core.cache import cache

from common.metrics import process_stats_refresh

HEARTBEAT_KEY = "webcap:worker-heartbeat"
HEARTBEAT_SECONDS = 15.0


def worker_heartbeat_store() -> None:
    """Store now as the time a worker last ran the heartbeat job (read at scrape)."""
    cache.set(HEARTBEAT_KEY, int(time.time()), timeout=None)
    process_stats_refresh()
