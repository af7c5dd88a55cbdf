"""Structured logs: every record of every process goes through structlog, as JSON or for people.

``LOGGING_CONFIG`` points at :func:`configure`, so Django (in the web, the workers, beat and
every management command) configures structlog and the standard library together. Records
from ``logging.getLogger(__name__)`` (webcap's house style), Django, Celery, daphne and
django-structlog all reach one handler whose :func:`formatter` renders them:

- ``json``: one object per line with ``timestamp`` (ISO 8601, UTC, ``Z``), ``level``,
  ``logger`` and ``event``, then the context ids that are known: ``request_id``, ``user_id``,
  ``task_id``, ``context_id``, ``job_id`` (and ``job``, ``ip``, ``rpc_method``);
- ``console``: aligned ``key=value`` lines for a terminal.

The context ids live in structlog's context variables. ``common/request_context.py`` binds
the request id (the same one the response's ``X-Request-ID`` carries), authentication binds
``user_id``, the task services bind ``task_id`` and ``context_id``. The Celery hooks below
copy those ids into the headers of every job published while they are bound, and the worker
binds them again around the job, with ``job_id`` (the Celery task id) and ``job`` (its name):
one request can be followed into its jobs and the jobs they enqueue.

:func:`redact` runs on every record last before rendering: it masks secrets by key name
and by shape (webcap API keys, JWTs, ``Bearer``/``Basic`` credentials, ``password=...``), in
the message, the context, nested structures and tracebacks.
"""

from __future__ import annotations

import logging
import logging.config
import re
import sys
import time
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import structlog
from celery import signals as celery_signals
from django.conf import settings
from django_structlog import signals as request_signals
from structlog.typing import EventDict, WrappedLogger

logger = structlog.stdlib.get_logger(__name__)

FORMATS = ("json", "console")
# The ids that follow work from a request into its jobs, in the order records show them.
CARRIED = ("request_id", "user_id", "task_id", "context_id")
CONTEXT_KEYS = (*CARRIED, "job_id", "job")
# The job header that carries the ids (Celery exposes it as an attribute of task.request).
JOB_HEADER = "webcap_log_context"
# A job may name the level of its routine lines (job_started, a successful job_finished) with
# this attribute of its class (a base=... of its @shared_task): the worker heartbeat, every
# 15 s, logs them at DEBUG. A job that fails logs job_finished at WARNING whatever it names.
JOB_LOG_LEVEL = "webcap_log_level"
REDACTED = "[REDACTED]"

# --- Redaction --------------------------------------------------------------------------------

# A key is secret when its name contains one of these...
_SECRET_SUBSTRINGS = (
    "authorization",
    "api_key",
    "apikey",
    "password",
    "passwd",
    "secret",
    "cookie",
    "credential",
    "private_key",
)
# ...or one of its words (split on "_", "-", ".") is one of these, or it ends in "token"
# ("csrftoken"). Words, not substrings: "prompt_tokens" and "max_tokens" are counts.
_SECRET_WORDS = frozenset({"token", "access", "refresh", "jwt", "bearer", "ticket", "session"})
# Keys whose values are ours and never secret (a request id may legitimately look like anything).
_SAFE_KEYS = frozenset({"timestamp", "level", "logger", *CONTEXT_KEYS, "ip"})

# Shapes of secrets inside strings. The API key format is accounts/services.py's
# API_KEY_PREFIX + secrets.token_urlsafe(32); a key's 10-character display prefix (what
# audit rows and refusal messages show) is shorter than the pattern and stays readable.
_API_KEY = re.compile(r"wcp_[A-Za-z0-9_-]{16,}")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
_SCHEME_CREDENTIAL = re.compile(r"(?i)\b(bearer|basic)(\s+)(?!\[REDACTED\])[^\s\"',;]+")
_KEY_VALUE = re.compile(
    r"(?i)\b(authorization|x-api-key|api[_-]?key|access[_-]?token|refresh[_-]?token|token"
    r"|password|passwd|secret|ticket|cookie)"
    r"(\"?'?\s*[:=]\s*\"?'?)"
    r"(?!\[REDACTED\]|bearer\b|basic\b)[^\s\"'&,;]+"
)
# What each pattern above needs to match at all: a text without any of these has nothing to
# mask, and one search for them is cheaper than the four substitutions (most text).
_MAYBE_SECRET = re.compile(
    r"wcp_|eyJ|(?i:bearer|basic|authorization|api[_-]?key|token|password|passwd|secret"
    r"|ticket|cookie)"
)


@lru_cache(maxsize=2048)
def _secret_key(name: str) -> bool:
    # Cached: records use a small, fixed set of key names, asked about on every record.
    key = name.lower().replace("-", "_").replace(".", "_")
    if key in _SAFE_KEYS:
        return False
    if any(part in key for part in _SECRET_SUBSTRINGS):
        return True
    return key.endswith("token") or not _SECRET_WORDS.isdisjoint(key.split("_"))


def redact_text(text: str) -> str:
    """Return text with API keys, tokens and credentials in it masked."""
    if _MAYBE_SECRET.search(text) is None:
        return text
    text = _API_KEY.sub("wcp_" + REDACTED, text)
    text = _JWT.sub(REDACTED, text)
    text = _SCHEME_CREDENTIAL.sub(r"\1\2" + REDACTED, text)
    return _KEY_VALUE.sub(r"\1\2" + REDACTED, text)


def _redact_value(value: Any, depth: int = 0) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if depth > 8:
        return value
    if isinstance(value, Mapping):
        return {
            key: REDACTED
            if isinstance(key, str) and _secret_key(key)
            else _redact_value(item, depth + 1)
            for key, item in value.items()
        }
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_redact_value(item, depth + 1) for item in value]
    if isinstance(value, bytes):
        return redact_text(value.decode("utf-8", "replace"))
    return value


def redact(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """Mask secrets in a record: by key name at any depth, by shape in every string."""
    for key, value in list(event_dict.items()):
        if key.startswith("_"):
            continue
        if _secret_key(key):
            event_dict[key] = REDACTED
        elif key not in _SAFE_KEYS:
            event_dict[key] = _redact_value(value)
    return event_dict


# --- Rendering --------------------------------------------------------------------------------


def _drop_unknown(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """Leave out context ids that are not known (bound as None or empty)."""
    for key in CONTEXT_KEYS:
        if key in event_dict and event_dict[key] in (None, ""):
            del event_dict[key]
    return event_dict


def _request_of_record(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """Name the request of a record that carries it (Django's "Not Found: ...", 5xx lines).

    Django logs a response's 4xx/5xx status after the middleware returned, when the request's
    log context is gone; its record holds the request itself.
    """
    record = event_dict.get("_record")
    info = getattr(getattr(record, "request", None), "webcap_info", None)
    if info is not None:
        event_dict.setdefault("request_id", info.request_id)
    status_code = getattr(record, "status_code", None)
    if isinstance(status_code, int):
        event_dict.setdefault("code", status_code)
    return event_dict


_FIRST = ("timestamp", "level", "logger", "event", *CONTEXT_KEYS)


def _ordered(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """Put the fixed fields first, so a line reads the same way every time."""
    ordered = {key: event_dict.pop(key) for key in _FIRST if key in event_dict}
    ordered.update(event_dict)
    return ordered


# Runs on every record: structlog's own (django-structlog, the job hooks) in their chain,
# the standard library's (webcap, Django, Celery, daphne) in the formatter's pre-chain.
_SHARED: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
]


def formatter(renderer: str = "json") -> structlog.stdlib.ProcessorFormatter:
    """Return the formatter of the log handler (``LOGGING["formatters"]``)."""
    final: Any
    if renderer == "json":
        final = structlog.processors.JSONRenderer(default=str)
    else:
        final = structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*_SHARED, _request_of_record],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            _drop_unknown,
            # Tracebacks become text before redaction, so secrets in them are masked too
            # (and the console shows them plainly: no local variables are printed).
            structlog.processors.format_exc_info,
            redact,
            _ordered,
            final,
        ],
    )


def configure(config: dict[str, Any]) -> None:
    """Configure structlog and the standard library (Django's ``LOGGING_CONFIG``)."""
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_SHARED,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    logging.config.dictConfig(config)


# --- Requests ---------------------------------------------------------------------------------


def _request_ids(request: Any, **kwargs: Any) -> None:
    """Name django-structlog's request records by webcap's request id, not a second one."""
    info = getattr(request, "webcap_info", None)
    if info is not None:
        structlog.contextvars.bind_contextvars(request_id=info.request_id)


# django-structlog's RequestMiddleware binds a fresh uuid as request_id, then sends this
# signal before its first record: the id becomes the one X-Request-ID returns.
request_signals.bind_extra_request_metadata.connect(_request_ids, dispatch_uid="webcap-request-id")


# --- Celery jobs ------------------------------------------------------------------------------


def _job_publishing(headers: dict[str, Any] | None = None, **kwargs: Any) -> None:
    """Copy the bound ids into the headers of a job being enqueued."""
    if headers is None:
        return
    context = structlog.contextvars.get_contextvars()
    carried = {key: str(context[key]) for key in CARRIED if context.get(key)}
    if carried:
        headers[JOB_HEADER] = carried


def _carried(value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        return {}
    return {
        key: value[key]
        for key in CARRIED
        if isinstance(value.get(key), str) and 0 < len(value[key]) <= 200
    }


def _job_level(task: Any) -> int:
    level = getattr(task, JOB_LOG_LEVEL, logging.INFO)
    return level if isinstance(level, int) else logging.INFO


def _job_started(task_id: str | None = None, task: Any = None, **kwargs: Any) -> None:
    """Bind the ids the job carries, its id and name, for the records of the job."""
    if task is None:
        return
    request = task.request
    saved = structlog.contextvars.get_contextvars()
    # An eager job (tests, apply()) runs inside its caller: it keeps the caller's ids and
    # gives the caller its context back when it ends.
    carried = _carried(getattr(request, JOB_HEADER, None)) or _carried(saved)
    request.webcap_log_saved = saved
    request.webcap_log_started = time.monotonic()
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(**carried, job_id=task_id, job=task.name)
    logger.log(_job_level(task), "job_started")


def _job_finished(task: Any = None, state: str | None = None, **kwargs: Any) -> None:
    """Log the job's end and drop its ids (restoring an eager job's caller)."""
    if task is None:
        return
    request = task.request
    started = getattr(request, "webcap_log_started", None)
    duration_ms = round((time.monotonic() - started) * 1000) if started is not None else None
    level = _job_level(task) if state in ("SUCCESS", "RETRY", "IGNORED", None) else logging.WARNING
    logger.log(level, "job_finished", state=state, duration_ms=duration_ms)
    saved = getattr(request, "webcap_log_saved", None) or {}
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(**saved)


def _celery_logging(**kwargs: Any) -> None:
    """Leave logging to Django's LOGGING: Celery then configures no handler of its own."""
    configure(settings.LOGGING)


def connect_celery() -> None:
    """Connect the job hooks (publisher and worker side, embedded worker included)."""
    celery_signals.before_task_publish.connect(_job_publishing, dispatch_uid="webcap-log-publish")
    celery_signals.task_prerun.connect(_job_started, dispatch_uid="webcap-log-prerun")
    celery_signals.task_postrun.connect(_job_finished, dispatch_uid="webcap-log-postrun")
    # A receiver for setup_logging stops a worker or beat from replacing the root handler
    # (and --loglevel): LOG_LEVEL and LOG_FORMAT apply to them as to the web.
    celery_signals.setup_logging.connect(_celery_logging, dispatch_uid="webcap-log-setup")
