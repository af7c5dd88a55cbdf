"""The assistant's Prometheus metrics: model requests, their latency, tokens and cost.

``assistant.services.llm_call_record`` touches them for every model call (docs/operations.md,
"Metrics", lists every family). Labels are the configured model and a bounded outcome.
``observability/`` serves them.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from common.metrics import FAST_BUCKETS

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
