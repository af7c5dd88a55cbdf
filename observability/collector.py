"""The families read at each scrape from the database, the broker and the cache.

Task states, the oldest task per state, pending approvals, queue depth, the worker heartbeat
and build info are not stored anywhere: ``StateCollector`` computes them when ``/metrics`` is
scraped (``observability/views.py``). Only the web processes serve them, so a sum over web and
worker targets never counts them twice.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import redis
from celery import current_app
from django.conf import settings
from django.core.cache import cache
from django.core.cache.backends.redis import RedisCache
from django.db import connection, transaction
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from a2a.card import WEBCAP_VERSION
from a2a.models import TERMINAL_STATES
from a2a.selectors import task_states
from observability.heartbeat import HEARTBEAT_KEY
from tools.models import ToolCall, ToolCallStatus

logger = logging.getLogger(__name__)

# Scrape-time reads wait at most this long for the database, the broker or the cache.
SCRAPE_TIMEOUT_SECONDS = 2.0


@contextmanager
def _short_queries() -> Iterator[None]:
    """Bound the database time of the scrape (PostgreSQL: a statement timeout)."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                millis = int(SCRAPE_TIMEOUT_SECONDS * 1000)
                cursor.execute(f"SET LOCAL statement_timeout = {millis}")
        yield


def _redis(url: str) -> Any:
    return redis.Redis.from_url(
        url,
        socket_timeout=SCRAPE_TIMEOUT_SECONDS,
        socket_connect_timeout=SCRAPE_TIMEOUT_SECONDS,
    )


class StateCollector(Collector):
    """The families computed at each scrape; one that cannot be read is logged and left out."""

    def collect(self) -> Iterable[Metric]:
        for name, read in (
            ("tasks", self._tasks),
            ("approvals", self._approvals),
            ("queue depth", self._queues),
            ("worker heartbeat", self._heartbeat),
            ("build info", self._build_info),
        ):
            try:
                families = list(read())
            except Exception as exc:
                # A scrape must never fail (Prometheus would lose every family): skip this one.
                logger.warning("Metrics: could not read %s: %s", name, exc)
                continue
            yield from families

    def _tasks(self) -> Iterator[Metric]:
        with _short_queries():
            states = task_states()
        tasks = GaugeMetricFamily("webcap_tasks", "Tasks per state.", labels=["state"])
        for state, found in states.items():
            tasks.add_metric([state], found.count)
        yield tasks
        age = GaugeMetricFamily(
            "webcap_task_oldest_age_seconds",
            "Seconds since the status time of the oldest task in each non-terminal state.",
            labels=["state"],
        )
        now = timezone.now()
        for state, found in states.items():
            if state in TERMINAL_STATES:
                continue
            since = found.oldest
            age.add_metric([state], max((now - since).total_seconds(), 0.0) if since else 0.0)
        yield age

    def _approvals(self) -> Iterator[Metric]:
        with _short_queries():
            pending = ToolCall.objects.filter(
                status=ToolCallStatus.AWAITING_APPROVAL, decision=""
            ).count()
        yield GaugeMetricFamily(
            "webcap_approvals_pending", "Tool calls awaiting approval.", value=pending
        )

    def _queues(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "webcap_queue_depth", "Jobs waiting in each Celery queue.", labels=["queue"]
        )
        names = {current_app.conf.task_default_queue}
        names.update(queue.name for queue in current_app.conf.task_queues or ())
        url = str(current_app.conf.broker_url or "")
        if url.startswith(("redis://", "rediss://", "unix://")):
            client = _redis(url)
            try:
                for name in sorted(names):
                    family.add_metric([name], int(client.llen(name)))
            finally:
                client.close()
        elif url.startswith("memory://"):
            # The in-memory broker hands jobs to the in-process worker at once.
            for name in sorted(names):
                family.add_metric([name], 0)
        else:
            raise ValueError(f"queue depth is not read from a {url.split(':', 1)[0]} broker")
        yield family

    def _heartbeat(self) -> Iterator[Metric]:
        if isinstance(cache, RedisCache):
            client = _redis(str(settings.CACHES["default"]["LOCATION"]))
            try:
                raw = client.get(cache.make_and_validate_key(HEARTBEAT_KEY))
            finally:
                client.close()
            value = int(raw) if raw is not None else None
        else:
            value = cache.get(HEARTBEAT_KEY)
        if value is None:
            return  # no worker has run it yet: "absent" is what the alert looks for
        yield GaugeMetricFamily(
            "webcap_worker_heartbeat_timestamp_seconds",
            "Unix time a worker last ran the heartbeat job.",
            value=float(value),
        )

    def _build_info(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "webcap_build_info", "webcap's version and mode; always 1.", labels=["version", "mode"]
        )
        mode = "embedded" if settings.EMBEDDED else "production"
        family.add_metric([WEBCAP_VERSION, mode], 1)
        yield family
