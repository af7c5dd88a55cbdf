"""The one place webcap talks to a model: ``complete()``, through litellm.

litellm is imported on first use (it takes seconds, and only jobs call models). Requests
stream; text reaches the caller as it arrives. Rate limits, server errors, timeouts and
connection failures are retried with exponential backoff (``Retry-After`` honoured); a
provider that keeps failing opens a circuit breaker shared through the cache, so tasks fail
at once with a clear message until the cooldown passes. Every request is recorded with its
tokens, cost and latency (an ``LLMCall`` row, written by ``assistant.services``). Each task
owner has a daily token budget (``WEBCAP_LLM_TOKENS_PER_DAY``, summed from those rows): once
it is spent, requests are refused before they reach the provider, until 00:00 UTC.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db.models import F, Sum

from a2a.models import Task
from assistant.offline import register_offline_model
from assistant.services import llm_call_record
from tools.models import LLMCall

logger = logging.getLogger(__name__)

OFFLINE_MODEL = "webcap/offline"
DEFAULT_CONTEXT_TOKENS = 8192

_setup_lock = threading.Lock()
_litellm: Any = None


class LLMError(Exception):
    """The model could not answer; ``str()`` is a message fit for the task's status."""

    def __init__(self, message: str, *, outcome: str) -> None:
        super().__init__(message)
        self.outcome = outcome


@dataclass
class ToolRequest:
    """A tool call as the model made it: its id, the tool's name, the raw JSON arguments."""

    id: str
    name: str
    arguments: str


@dataclass
class Completion:
    """What one model turn produced."""

    text: str = ""
    tool_calls: list[ToolRequest] = field(default_factory=list)
    finish_reason: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: Decimal = Decimal(0)
    model: str = ""
    attempts: int = 1


def model_name() -> str:
    """Return the configured litellm model, or the offline rule-based model."""
    return settings.WEBCAP_MODEL or OFFLINE_MODEL


def _lib() -> Any:
    """Return litellm, imported and set up on first use (it takes seconds to load)."""
    global _litellm
    if _litellm is None:
        with _setup_lock:
            if _litellm is None:
                os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
                import litellm

                litellm.telemetry = False
                litellm.suppress_debug_info = True
                register_offline_model()
                _litellm = litellm
    return _litellm


def context_window() -> int:
    """Return how many tokens the model's prompt may hold."""
    if settings.WEBCAP_MODEL_CONTEXT_TOKENS:
        return int(settings.WEBCAP_MODEL_CONTEXT_TOKENS)
    try:
        info = _lib().get_model_info(model_name())
        return int(info.get("max_input_tokens") or DEFAULT_CONTEXT_TOKENS)
    except Exception:
        return DEFAULT_CONTEXT_TOKENS


def preload() -> None:
    """Import and set up litellm now rather than on the first model call."""
    _lib()


def count_tokens(messages: list[dict[str, Any]]) -> int:
    """Return litellm's token count of messages for the configured model."""
    try:
        return int(_lib().token_counter(model=model_name(), messages=messages))
    except Exception:
        # Unknown tokenizers fall back to a generous estimate rather than failing a task.
        return sum(len(str(m.get("content") or "")) // 3 + 4 for m in messages)


def supports_vision() -> bool:
    """Whether the configured model accepts image content."""
    try:
        return bool(_lib().supports_vision(model=model_name()))
    except Exception:
        return False


# --- The circuit breaker ------------------------------------------------------------------------


def _breaker_key(model: str) -> str:
    return f"webcap:llm-breaker:{model}"


def _breaker_check(model: str) -> None:
    state = cache.get(_breaker_key(model)) or {}
    if state.get("open_until", 0) > time.time():
        wait = int(state["open_until"] - time.time()) + 1
        raise LLMError(
            f"The model provider for {model} is unavailable (it failed "
            f"{state.get('failures', 0)} times in a row); tasks fail at once for another "
            f"{wait} s. Try again later.",
            outcome="circuit_open",
        )


def _breaker_record(model: str, *, ok: bool) -> None:
    key = _breaker_key(model)
    if ok:
        cache.delete(key)
        return
    state = cache.get(key) or {"failures": 0}
    state["failures"] = state.get("failures", 0) + 1
    if state["failures"] >= settings.WEBCAP_MODEL_BREAKER_THRESHOLD:
        state["open_until"] = time.time() + settings.WEBCAP_MODEL_BREAKER_COOLDOWN
        logger.error("Circuit opened for model %s after %d failures", model, state["failures"])
    cache.set(key, state, timeout=int(settings.WEBCAP_MODEL_BREAKER_COOLDOWN) + 3600)


# --- The daily token budget ---------------------------------------------------------------------


def tokens_used_today(*, owner_id: int) -> int:
    """Return the prompt + completion tokens the owner's tasks used since 00:00 UTC."""
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    total = LLMCall.objects.filter(task__owner_id=owner_id, created_at__gte=midnight).aggregate(
        total=Sum(F("prompt_tokens") + F("completion_tokens"))
    )["total"]
    return int(total or 0)


def _budget_check(task_id: Any) -> None:
    """Refuse the request when the task owner's daily token budget is spent."""
    budget = int(settings.WEBCAP_LLM_TOKENS_PER_DAY)
    if budget <= 0 or task_id is None:
        return
    owner_id = Task.objects.filter(pk=task_id).values_list("owner_id", flat=True).first()
    if owner_id is None:
        return
    # A soft limit: the request that crosses the budget is served in full, the next refused.
    used = tokens_used_today(owner_id=owner_id)
    if used >= budget:
        logger.warning(
            "Task %s: user %s used %d of %d model tokens today; refusing",
            task_id,
            owner_id,
            used,
            budget,
        )
        raise LLMError(
            f"Daily model token budget of {budget} tokens used up; it resets at 00:00 UTC.",
            outcome="budget",
        )


# --- Calling the model --------------------------------------------------------------------------


def _classify(exc: Exception) -> tuple[bool, str]:
    """Return (retryable, outcome) for an exception litellm raised."""
    lib = _lib()
    if isinstance(exc, lib.RateLimitError):
        return True, "rate_limited"
    if isinstance(exc, lib.Timeout):
        return True, "timeout"
    retryable = (
        lib.InternalServerError,
        lib.ServiceUnavailableError,
        lib.APIConnectionError,
        lib.BadGatewayError,
    )
    if isinstance(exc, retryable):
        return True, "unavailable"
    if isinstance(exc, lib.ContextWindowExceededError):
        return False, "context_window"
    if isinstance(exc, lib.AuthenticationError):
        return False, "auth"
    return False, "error"


def _retry_after(exc: Exception) -> float | None:
    """Return the provider's Retry-After in seconds (at most 60), if it sent one."""
    # litellm keeps the provider's headers here; exc.response is a stand-in without them.
    headers = getattr(exc, "litellm_response_headers", None)
    value = headers.get("retry-after") if headers is not None else None
    try:
        return min(max(float(value), 0.0), 60.0) if value is not None else None
    except ValueError:
        return None


def _stream(
    model: str,
    messages: list[dict[str, Any]],
    tools: list[dict[str, Any]] | None,
    on_text: Callable[[str], None] | None,
) -> Completion:
    kwargs: dict[str, Any] = {
        "model": model,
        "messages": messages,
        "stream": True,
        "stream_options": {"include_usage": True},
        "timeout": settings.WEBCAP_MODEL_TIMEOUT,
        "num_retries": 0,
    }
    if tools:
        kwargs["tools"] = tools
    if settings.WEBCAP_MODEL_API_BASE and model != OFFLINE_MODEL:
        kwargs["api_base"] = settings.WEBCAP_MODEL_API_BASE
    if settings.WEBCAP_MODEL_API_KEY and model != OFFLINE_MODEL:
        kwargs["api_key"] = settings.WEBCAP_MODEL_API_KEY
    result = Completion(model=model)
    calls: dict[int, ToolRequest] = {}
    for chunk in _lib().completion(**kwargs):
        usage = getattr(chunk, "usage", None)
        if usage is not None:
            result.prompt_tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
            result.completion_tokens = int(getattr(usage, "completion_tokens", 0) or 0)
        if not chunk.choices:
            continue
        choice = chunk.choices[0]
        delta = choice.delta
        if getattr(delta, "content", None):
            result.text += delta.content
            if on_text is not None:
                on_text(delta.content)
        for call in getattr(delta, "tool_calls", None) or []:
            index = call.index or 0
            request = calls.setdefault(index, ToolRequest(id="", name="", arguments=""))
            if call.id:
                request.id = call.id
            function = call.function
            if function is not None:
                if function.name:
                    request.name = function.name
                if function.arguments:
                    request.arguments += function.arguments
        if choice.finish_reason:
            result.finish_reason = choice.finish_reason
    result.tool_calls = [calls[i] for i in sorted(calls)]
    return result


def _cost(completion: Completion) -> Decimal:
    try:
        prompt, answer = _lib().cost_per_token(
            model=completion.model,
            prompt_tokens=completion.prompt_tokens,
            completion_tokens=completion.completion_tokens,
        )
        return Decimal(str(prompt + answer))
    except Exception:
        return Decimal(0)


def complete(
    *,
    messages: list[dict[str, Any]],
    tools: list[dict[str, Any]] | None = None,
    on_text: Callable[[str], None] | None = None,
    on_restart: Callable[[], None] | None = None,
    task_id: Any = None,
    purpose: str = "turn",
) -> Completion:
    """Ask the model for one turn, streaming its text to on_text; raise LLMError on failure.

    A retry after text was already streamed calls on_restart first, so the caller can
    start its output over.
    """
    model = model_name()
    started = time.monotonic()
    try:
        _budget_check(task_id)
        _breaker_check(model)
    except LLMError as refused:
        _record(task_id, model, purpose, started, 0, refused.outcome, str(refused), None)
        raise
    attempts = 0
    while True:
        attempts += 1
        streamed = False

        def forward(text: str) -> None:
            nonlocal streamed
            streamed = True
            if on_text is not None:
                on_text(text)

        try:
            result = _stream(model, messages, tools, forward)
        except Exception as exc:
            retryable, outcome = _classify(exc)
            if retryable and attempts <= settings.WEBCAP_MODEL_MAX_RETRIES:
                delay = _retry_after(exc) or settings.WEBCAP_MODEL_RETRY_BASE * 2 ** (attempts - 1)
                logger.warning(
                    "Model %s: %s (attempt %d), retrying in %.2f s", model, outcome, attempts, delay
                )
                if streamed and on_restart is not None:
                    on_restart()
                time.sleep(delay)
                continue
            if retryable:
                # Only unavailability counts against the provider; a bad request does not.
                _breaker_record(model, ok=False)
            message = _failure_message(model, outcome, exc, attempts)
            _record(task_id, model, purpose, started, attempts, outcome, message, None)
            raise LLMError(message, outcome=outcome) from exc
        result.attempts = attempts
        result.cost_usd = _cost(result)
        _breaker_record(model, ok=True)
        _record(task_id, model, purpose, started, attempts, "ok", "", result)
        return result


def _failure_message(model: str, outcome: str, exc: Exception, attempts: int) -> str:
    reasons = {
        "rate_limited": "kept refusing with rate limits",
        "timeout": "did not answer in time",
        "unavailable": "is unavailable",
        "context_window": "got a conversation longer than its context window",
        "auth": "refused webcap's credentials (check WEBCAP_MODEL_API_KEY)",
    }
    reason = reasons.get(outcome, f"failed: {type(exc).__name__}")
    tries = f" after {attempts} attempts" if attempts > 1 else ""
    return f"The model {model} {reason}{tries}."


def _record(
    task_id: Any,
    model: str,
    purpose: str,
    started: float,
    attempts: int,
    outcome: str,
    error: str,
    result: Completion | None,
) -> None:
    llm_call_record(
        task_id=task_id,
        model=model,
        purpose=purpose,
        seconds=time.monotonic() - started,
        attempts=attempts,
        outcome=outcome,
        error=error,
        prompt_tokens=result.prompt_tokens if result else 0,
        completion_tokens=result.completion_tokens if result else 0,
        cost_usd=result.cost_usd if result else Decimal(0),
    )
