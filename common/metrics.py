"""What every process measures of itself, with no app state: memory, CPU, multiprocess files.

Each app defines its own Prometheus families next to the code they measure (``a2a/metrics.py``,
``tools/metrics.py``) with the buckets here; ``observability/`` serves them at ``/metrics`` and
wires the Celery signals. With ``PROMETHEUS_MULTIPROC_DIR`` set, prometheus_client writes every
value to a file in that folder and a scrape adds up the files of every process of the host;
without it, the values live in this process.
"""

from __future__ import annotations

import os
import resource
import threading
import time

from django.http import HttpRequest, HttpResponse
from django_prometheus.middleware import (  # type: ignore[import-untyped]
    PrometheusAfterMiddleware as _AfterMiddleware,
)
from prometheus_client import Gauge, multiprocess

# Request, model and tool durations (seconds).
FAST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
# Task durations and approval waits: seconds to a day.
SLOW_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400)

PROCESS_MEMORY = Gauge(
    "webcap_process_resident_memory_bytes",
    "Resident memory of each web and worker process.",
    ["role"],
    multiprocess_mode="liveall",
)
PROCESS_CPU = Gauge(
    "webcap_process_cpu_seconds_total",
    "CPU seconds (user + system) each web and worker process used.",
    ["role"],
    multiprocess_mode="liveall",
)

PROCESS_REFRESH_SECONDS = 10.0


class _Process:
    """This process's role (web or worker) and when its gauges were last refreshed."""

    role = "web"
    refreshed = 0.0


_process_lock = threading.Lock()


def _resident_bytes() -> int:
    try:
        with open("/proc/self/statm", "rb") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        # No /proc (macOS): the peak is the best the standard library knows (KiB on Linux,
        # bytes on macOS; only macOS gets here).
        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def process_stats_refresh(*, force: bool = False) -> None:
    """Update this process's memory and CPU gauges, at most every 10 s unless forced."""
    now = time.monotonic()
    with _process_lock:
        if not force and now - _Process.refreshed < PROCESS_REFRESH_SECONDS:
            return
        _Process.refreshed = now
    role = _Process.role
    times = os.times()
    PROCESS_MEMORY.labels(role).set(_resident_bytes())
    PROCESS_CPU.labels(role).set(times.user + times.system)


def process_role_set(role: str, *, refresh_due: bool = False) -> None:
    """Label this process's gauges with role from now on; refresh_due refreshes them next time."""
    _Process.role = role
    if refresh_due:
        _Process.refreshed = 0.0


def multiprocess_dir() -> str:
    """Return PROMETHEUS_MULTIPROC_DIR (what prometheus_client itself reads), or ""."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")


def process_exit_mark(pid: int | None = None) -> None:
    """Tell the multiprocess files that a process ended: its live gauges stop counting."""
    if not multiprocess_dir():
        return
    multiprocess.mark_process_dead(pid if pid is not None else os.getpid())  # type: ignore[no-untyped-call]


class PrometheusAfterMiddleware(_AfterMiddleware):
    """django-prometheus's last middleware; it also refreshes this process's memory and CPU."""

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        process_stats_refresh()
        result: HttpResponse = super().process_response(request, response)
        return result
