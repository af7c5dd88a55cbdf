"""Writes of the assistant: its usage records.

The assistant's rows live in the tools app's tables (see the package docstring); every row
it writes is written here.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from a2a.metrics import llm_request_record
from tools.models import LLMCall


def llm_call_record(
    *,
    task_id: Any,
    model: str,
    purpose: str,
    seconds: float,
    attempts: int,
    outcome: str,
    error: str,
    prompt_tokens: int,
    completion_tokens: int,
    cost_usd: Decimal,
) -> LLMCall:
    """Record one model request, answered or refused: its usage row and its metrics."""
    llm_request_record(
        model=model,
        outcome=outcome,
        seconds=seconds,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        cost_usd=float(cost_usd),
    )
    return LLMCall.objects.create(
        task_id=task_id,
        model=model,
        purpose=purpose,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        cost_usd=cost_usd,
        latency_ms=int(seconds * 1000),
        attempts=attempts,
        outcome=outcome,
        error=error,
    )
