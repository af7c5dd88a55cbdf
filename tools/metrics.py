"""The tool platform's Prometheus metrics: tool calls, run times, approval waits.

Services touch them through the helpers here (docs/operations.md,
"Metrics", lists every family). Label values are bounded sets: a tool the model made up is
"unknown". Counters of work that commits are incremented on commit. ``observability/`` serves
them.
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from prometheus_client import Counter, Histogram

from common.metrics import FAST_BUCKETS, SLOW_BUCKETS
from tools.registry import tool_get

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
TOOL_THREADS_ABANDONED = Counter(
    "webcap_tool_threads_abandoned_total",
    "Tool calls in the worker's thread that ran past their deadline and did not stop.",
    ["tool"],
)
APPROVAL_WAIT = Histogram(
    "webcap_approval_wait_seconds",
    "Seconds a tool call waited for a person, by the decision that ended the wait.",
    ["tool", "decision"],
    buckets=SLOW_BUCKETS,
)
# --- Tools ------------------------------------------------------------------------------------


def tool_label(name: str) -> str:
    """Return the tool's name for a label, or "unknown" for a name the model made up."""
    return name if tool_get(name) is not None else "unknown"


def tool_call_record(*, tool: str, outcome: str) -> None:
    """Count a call that ended (success, error, cancelled, rejected, interrupted) on commit."""
    label = tool_label(tool)
    transaction.on_commit(lambda: TOOL_CALLS.labels(label, outcome).inc())


def tool_run_record(*, tool: str, seconds: float) -> None:
    """Record how long a tool ran."""
    TOOL_CALL_DURATION.labels(tool_label(tool)).observe(seconds)


def tool_thread_abandoned_record(*, tool: str) -> None:
    """Count a thread left running by a call past its deadline (only sandboxes kill)."""
    TOOL_THREADS_ABANDONED.labels(tool_label(tool)).inc()


def approval_wait_record(
    *, tool: str, decision: str, requested_at: datetime, decided_at: datetime
) -> None:
    """Record how long a call waited for a person (decision: approved, rejected, expired)."""
    label = tool_label(tool)
    seconds = max((decided_at - requested_at).total_seconds(), 0.0)
    transaction.on_commit(lambda: APPROVAL_WAIT.labels(label, decision).observe(seconds))
