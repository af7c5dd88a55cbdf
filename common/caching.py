"""One default-cache object per process, for code that runs on every request.

Django hands out a cache object per thread and per async context (``caches`` is an asgiref
``Local``). Code that runs once per request in a fresh context, as the A2A fast path's rate
limits and the card's Last-Modified do, would therefore build a new backend for every
request, and with Redis a new connection pool and a new TCP connection to Redis. The
backends are thread-safe (redis-py's connection pool, LocMemCache's lock), so one object
serves the whole process; it is rebuilt when a test changes ``CACHES``.
"""

from __future__ import annotations

import threading
from typing import Any

from django.core.cache import BaseCache, caches
from django.core.signals import setting_changed

_shared: dict[str, BaseCache] = {}
_lock = threading.Lock()


def shared_cache(alias: str = "default") -> BaseCache:
    """Return this process's one object for the cache alias."""
    cache = _shared.get(alias)
    if cache is None:
        with _lock:
            cache = _shared.get(alias)
            if cache is None:
                cache = _shared[alias] = caches.create_connection(alias)
    return cache


def _forget(*, setting: str, **kwargs: Any) -> None:
    if setting == "CACHES":
        _shared.clear()


# Signals only for cache invalidation: a changed CACHES setting (tests) gets a new object.
setting_changed.connect(_forget, dispatch_uid="webcap-shared-cache")
