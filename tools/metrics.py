"""The tool platform's Prometheus metrics: tool calls, run times, approval waits, model requests.

Services and ``tools/llm.py`` touch them through the helpers here (docs/operations.md,
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
APPROVAL_WAIT = Histogram(
    "webcap_approval_wait_seconds",
    "Seconds a tool call waited for a person, by the decision that ended the wait.",
    ["tool", "decision"],
    buckets=SLOW_BUCKETS,
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

LLM_OUTCOMES = frozenset({"ok", "timeout", "rate_limited"})


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


def approval_wait_record(
    *, tool: str, decision: str, requested_at: datetime, decided_at: datetime
) -> None:
    """Record how long a call waited for a person (decision: approved, rejected, expired)."""
    label = tool_label(tool)
    seconds = max((decided_at - requested_at).total_seconds(), 0.0)
    transaction.on_commit(lambda: APPROVAL_WAIT.labels(label, decision).observe(seconds))


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
