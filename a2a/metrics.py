"""webcap's own Prometheus metrics, defined once (docs/operations.md, "Metrics").

Services, bindings, consumers and the model calls touch them through the helpers here. Label
values are bounded sets: never an id, a user name or a URL. Counters of work that commits are
incremented on commit. With ``PROMETHEUS_MULTIPROC_DIR`` set, prometheus_client writes every
value to a file in that folder and ``/metrics`` (``common/metrics.py``) adds up the files of
every process of the host; without it, the values live in this process.

The families read from the database, the broker and the cache (task states, the oldest task
per state, pending approvals, queue depth, the worker heartbeat, build info) are not stored
anywhere: ``StateCollector`` computes them at each scrape (``common/metrics.py`` serves them).
"""

from __future__ import annotations

import atexit
import logging
import os
import resource
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from celery import signals
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

# Request, model and tool durations (seconds).
FAST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
# Task durations and approval waits: seconds to a day.
SLOW_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400)

A2A_REQUESTS = Counter(
    "webcap_a2a_requests_total",
    "A2A calls by method, binding and result code ('ok' or the JSON-RPC error code).",
    ["method", "binding", "code"],
)
A2A_REQUEST_DURATION = Histogram(
    "webcap_a2a_request_duration_seconds",
    "Time to the answer of an A2A call (streams: until the stream is open, first event ready).",
    ["method", "binding"],
    buckets=FAST_BUCKETS,
)
TASK_TRANSITIONS = Counter(
    "webcap_task_transitions_total",
    "Task state changes (progress updates within a state are not counted).",
    ["from_state", "to_state"],
)
TASK_DURATION = Histogram(
    "webcap_task_duration_seconds",
    "Seconds from a task's creation to its terminal state, by that state.",
    ["state"],
    buckets=SLOW_BUCKETS,
)
TOOL_CALLS = Counter(
    "webcap_tool_calls_total",
    "Tool calls by tool and how they ended.",
    ["tool", "outcome"],
)
TOOL_CALL_DURATION = Histogram(
    "webcap_tool_call_duration_seconds",
    "Run time of a tool.",
    ["tool"],
    buckets=FAST_BUCKETS,
)
APPROVAL_WAIT = Histogram(
    "webcap_approval_wait_seconds",
    "Seconds a tool call waited for a person, by the decision that ended the wait.",
    ["tool", "decision"],
    buckets=SLOW_BUCKETS,
)
OPEN_STREAMS = Gauge(
    "webcap_open_streams",
    "Open SSE streams and WebSocket connections.",
    ["binding"],
    multiprocess_mode="livesum",
)
STREAM_DISCONNECTS = Counter(
    "webcap_stream_disconnects_total",
    "Closed SSE streams and WebSocket connections, by who ended them.",
    ["binding", "reason"],
)
LLM_REQUESTS = Counter(
    "webcap_llm_requests_total",
    "Model requests (retries included) by model and outcome.",
    ["model", "outcome"],
)
LLM_REQUEST_DURATION = Histogram(
    "webcap_llm_request_duration_seconds",
    "Seconds one model request took, retries included.",
    ["model"],
    buckets=FAST_BUCKETS,
)
LLM_TOKENS = Counter("webcap_llm_tokens_total", "Model tokens by kind.", ["model", "kind"])
LLM_COST = Counter("webcap_llm_cost_usd_total", "litellm's cost estimate in USD.", ["model"])
PUSH_DELIVERIES = Counter(
    "webcap_push_deliveries_total",
    "Webhook delivery attempts by outcome.",
    ["outcome"],
)
JOBS = Counter("webcap_jobs_total", "Celery jobs run, by job and outcome.", ["job", "outcome"])
JOB_DURATION = Histogram(
    "webcap_job_duration_seconds", "Run time of a Celery job.", ["job"], buckets=FAST_BUCKETS
)
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

LLM_OUTCOMES = frozenset({"ok", "timeout", "rate_limited"})
PROCESS_REFRESH_SECONDS = 10.0
HEARTBEAT_KEY = "webcap:worker-heartbeat"
HEARTBEAT_SECONDS = 15.0
# Scrape-time reads wait at most this long for the database, the broker or the cache.
SCRAPE_TIMEOUT_SECONDS = 2.0


def _on_commit(action: Callable[[], None]) -> None:
    """Run action after the current transaction commits (at once outside of one)."""
    transaction.on_commit(action)


# --- A2A calls ----------------------------------------------------------------------------------


def a2a_request_record(
    *, method: str, binding: str, error: BaseException | None, seconds: float
) -> None:
    """Count one A2A call and its duration; error is what the dispatcher raised, if anything."""
    from a2a.protocol.errors import A2AError, ServiceUnavailableError
    from common.database import DATABASE_ERRORS

    if error is None:
        code = "ok"
    elif isinstance(error, A2AError):
        code = str(error.code)
    elif isinstance(error, DATABASE_ERRORS):
        code = str(ServiceUnavailableError.code)
    else:
        code = "-32603"  # the bindings answer an unexpected exception with InternalError
    A2A_REQUESTS.labels(method, binding, code).inc()
    A2A_REQUEST_DURATION.labels(method, binding).observe(seconds)


# --- Tasks ----------------------------------------------------------------------------------------


def task_transition_record(
    *, previous: str, state: str, created_at: datetime, ended_at: datetime, terminal: bool
) -> None:
    """Count a task's state change on commit; a terminal one also records the task's duration."""

    def record() -> None:
        TASK_TRANSITIONS.labels(previous, state).inc()
        if terminal:
            TASK_DURATION.labels(state).observe(max((ended_at - created_at).total_seconds(), 0))

    _on_commit(record)


# --- Tools ------------------------------------------------------------------------------------


def tool_label(name: str) -> str:
    """Return the tool's name for a label, or "unknown" for a name the model made up."""
    from tools.registry import tool_get

    return name if tool_get(name) is not None else "unknown"


def tool_call_record(*, tool: str, outcome: str) -> None:
    """Count a call that ended (success, error, cancelled, rejected, interrupted) on commit."""
    label = tool_label(tool)
    _on_commit(lambda: TOOL_CALLS.labels(label, outcome).inc())


def tool_run_record(*, tool: str, seconds: float) -> None:
    """Record how long a tool ran."""
    TOOL_CALL_DURATION.labels(tool_label(tool)).observe(seconds)


def approval_wait_record(
    *, tool: str, decision: str, requested_at: datetime, decided_at: datetime
) -> None:
    """Record how long a call waited for a person (decision: approved, rejected, expired)."""
    label = tool_label(tool)
    seconds = max((decided_at - requested_at).total_seconds(), 0.0)
    _on_commit(lambda: APPROVAL_WAIT.labels(label, decision).observe(seconds))


# --- Models -------------------------------------------------------------------------------------


def llm_request_record(
    *,
    model: str,
    outcome: str,
    seconds: float,
    prompt_tokens: int,
    completion_tokens: int,
    cost_usd: float,
) -> None:
    """Count one model request with its latency, tokens and cost (llm.py's outcomes folded
    into ok, timeout, rate_limited and error)."""
    LLM_REQUESTS.labels(model, outcome if outcome in LLM_OUTCOMES else "error").inc()
    LLM_REQUEST_DURATION.labels(model).observe(seconds)
    if prompt_tokens:
        LLM_TOKENS.labels(model, "prompt").inc(prompt_tokens)
    if completion_tokens:
        LLM_TOKENS.labels(model, "completion").inc(completion_tokens)
    if cost_usd > 0:
        LLM_COST.labels(model).inc(cost_usd)


# --- Push -----------------------------------------------------------------------------------------


def push_delivery_record(*, outcome: str) -> None:
    """Count one webhook delivery attempt: delivered, failed, dropped or refused."""
    PUSH_DELIVERIES.labels(outcome).inc()


# --- Streams --------------------------------------------------------------------------------------


class StreamEnd:
    """How a stream ended; the code serving it sets ``reason`` (it starts as "error")."""

    reason = "error"


@contextmanager
def stream_open(binding: str) -> Iterator[StreamEnd]:
    """Count an open stream (sse, websocket, capnweb) for the block; count its end after."""
    OPEN_STREAMS.labels(binding).inc()
    end = StreamEnd()
    try:
        yield end
    finally:
        OPEN_STREAMS.labels(binding).dec()
        STREAM_DISCONNECTS.labels(binding, end.reason).inc()


def stream_opened(binding: str) -> None:
    """Count a connection opened (for code that cannot hold a ``with`` block: consumers)."""
    OPEN_STREAMS.labels(binding).inc()


def stream_closed(binding: str, reason: str) -> None:
    """Count a connection opened with ``stream_opened`` as closed, and why."""
    OPEN_STREAMS.labels(binding).dec()
    STREAM_DISCONNECTS.labels(binding, reason).inc()


# --- Processes ------------------------------------------------------------------------------------


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


def multiprocess_dir() -> str:
    """Return PROMETHEUS_MULTIPROC_DIR (what prometheus_client itself reads), or ""."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")


def process_exit_mark(pid: int | None = None) -> None:
    """Tell the multiprocess files that a process ended: its live gauges stop counting."""
    if not multiprocess_dir():
        return
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid if pid is not None else os.getpid())  # type: ignore[no-untyped-call]


def _exit_mark_if_same(pid: int) -> None:
    # A forked child inherits atexit handlers; only the process that registered marks itself.
    if os.getpid() == pid:
        process_exit_mark(pid)


if multiprocess_dir():
    # Web processes (daphne) have no other exit hook; Celery processes use the signals below.
    atexit.register(_exit_mark_if_same, os.getpid())


# --- Celery jobs --------------------------------------------------------------------------------

_job_started: dict[str, float] = {}
_JOB_OUTCOMES = {"SUCCESS": "success", "RETRY": "retry", "FAILURE": "failure"}
_heartbeat_stop = threading.Event()


def _job_label(task: Any) -> str:
    name = str(getattr(task, "name", "") or "unknown")
    return name.rsplit(".", 1)[-1]


@signals.task_prerun.connect
def _job_prerun(task_id: str | None = None, **kwargs: Any) -> None:
    if task_id:
        _job_started[task_id] = time.monotonic()


@signals.task_postrun.connect
def _job_postrun(
    task_id: str | None = None, task: Any = None, state: str | None = None, **kwargs: Any
) -> None:
    """Count the job by the state it ended in (retry and failure included) and time it."""
    started = _job_started.pop(task_id, None) if task_id else None
    job = _job_label(task)
    outcome = _JOB_OUTCOMES.get(state or "")
    if outcome is not None:
        JOBS.labels(job, outcome).inc()
    if started is not None:
        JOB_DURATION.labels(job).observe(time.monotonic() - started)
    process_stats_refresh()


@signals.worker_init.connect
def _worker_init(sender: Any = None, **kwargs: Any) -> None:
    if settings.EMBEDDED:
        # The embedded worker is a thread of the web process; there is no beat to schedule
        # the heartbeat job, so a timer thread enqueues it through that worker instead.
        _heartbeat_stop.clear()
        threading.Thread(target=_heartbeat_ticker, name="metrics-heartbeat", daemon=True).start()
        return
    _Process.role = "worker"
    if settings.METRICS_WORKER_PORT:
        # A worker on a host (container, pod) of its own: web processes cannot read its
        # multiprocess files, so it serves them itself (Prometheus scrapes both).
        from common.metrics import worker_metrics_serve  # common.metrics imports this module

        worker_metrics_serve(settings.METRICS_WORKER_PORT)


@signals.worker_process_init.connect
def _worker_child_init(**kwargs: Any) -> None:
    _Process.role = "worker"
    _Process.refreshed = 0.0


@signals.worker_process_shutdown.connect
def _worker_child_shutdown(pid: int | None = None, **kwargs: Any) -> None:
    process_exit_mark(pid)


@signals.worker_shutdown.connect
def _worker_shutdown(**kwargs: Any) -> None:
    _heartbeat_stop.set()
    if not settings.EMBEDDED:
        process_exit_mark()


def _heartbeat_ticker() -> None:
    from a2a.jobs import worker_heartbeat_job

    while True:
        try:
            worker_heartbeat_job.delay()
        except Exception:
            logger.warning("Could not enqueue the worker heartbeat job", exc_info=True)
        if _heartbeat_stop.wait(HEARTBEAT_SECONDS):
            return


def worker_heartbeat_store() -> None:
    """Store now as the time a worker last ran the heartbeat job (read at scrape)."""
    from django.core.cache import cache

    cache.set(HEARTBEAT_KEY, int(time.time()), timeout=None)
    process_stats_refresh()


# --- Read at scrape time --------------------------------------------------------------------------


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
    import redis

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
        from a2a.models import TERMINAL_STATES
        from a2a.selectors import task_states

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
        from tools.models import ToolCall, ToolCallStatus

        with _short_queries():
            pending = ToolCall.objects.filter(
                status=ToolCallStatus.AWAITING_APPROVAL, decision=""
            ).count()
        yield GaugeMetricFamily(
            "webcap_approvals_pending", "Tool calls awaiting approval.", value=pending
        )

    def _queues(self) -> Iterator[Metric]:
        from config.celery import app

        family = GaugeMetricFamily(
            "webcap_queue_depth", "Jobs waiting in each Celery queue.", labels=["queue"]
        )
        names = {app.conf.task_default_queue}
        names.update(queue.name for queue in app.conf.task_queues or ())
        url = str(app.conf.broker_url or "")
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
        from django.core.cache import cache
        from django.core.cache.backends.redis import RedisCache

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
        from a2a.card import WEBCAP_VERSION

        mode = "embedded" if settings.EMBEDDED else "production"
        family.add_metric([WEBCAP_VERSION, mode], 1)
        yield family
