"""The A2A app's Prometheus metrics: calls, task transitions, streams, webhook deliveries.

Services, bindings and consumers touch them through the helpers here (docs/operations.md,
"Metrics", lists every family). Label values are bounded sets: never an id, a user name or a
URL. Counters of work that commits are incremented on commit. ``observability/`` serves them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from django.db import transaction
from prometheus_client import Counter, Gauge, Histogram

from a2a.protocol.errors import A2AError
from common.metrics import FAST_BUCKETS, SLOW_BUCKETS

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
STREAM_OVERFLOWS = Counter(
    "webcap_stream_overflows_total",
    "Times a stream fell WEBCAP_STREAM_QUEUE live events behind and read on from the event log.",
)
PUSH_DELIVERIES = Counter(
    "webcap_push_deliveries_total",
    "Webhook delivery attempts by outcome.",
    ["outcome"],
)


# --- A2A calls ----------------------------------------------------------------------------------


def a2a_request_record(
    *, method: str, binding: str, error: A2AError | None, seconds: float
) -> None:
    """Count one A2A call and its duration; error is the A2A error the dispatcher answered
    with (it turns every failure into one), if any."""
    code = "ok" if error is None else str(error.code)
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

    transaction.on_commit(record)


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


def stream_overflowed() -> None:
    """Count a stream whose queue of live events filled up (it reads the log instead)."""
    STREAM_OVERFLOWS.inc()
