"""Readiness checks: can this process serve requests with every dependency it needs?

``readiness()`` runs one check per dependency at once and gives each ``HEALTH_CHECK_TIMEOUT``
seconds, so a probe answers in about the time of the slowest check and never later than the
timeout: the database (``SELECT 1``), the cache (a key written and read back), the channel
layer (a message sent to a fresh channel and received), the Celery broker (a connection),
the migrations (none unapplied; remembered once true, per process) and the artifact storage
(the folder, or a HEAD on the bucket).

Blocking checks run in a small thread pool of their own, at most one per check at a time: a
check that hangs past the timeout (a dependency that accepts connections and never answers)
is reported as timed out, and later probes wait on the same attempt instead of piling up
threads behind it. The async channel-layer check runs on the event loop and is cancelled at
the timeout.

A failed check's ``error`` is a short fixed phrase (``"OperationalError: connection
refused"``, ``"timed out after 2 s"``): probes are unauthenticated, so no driver message,
host name or URL reaches the response. The driver's own message is logged (credentials in
URLs masked) once when a check starts failing, and a line when it recovers.

Advisories are the other half of a probe's answer: configuration a process serves with but an
operator should hear about (a production server whose assistant has no real model). They are
listed under ``warnings`` and never fail readiness; apps add theirs with
``advisory_register`` in ``AppConfig.ready()``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import errno
import inspect
import logging
import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from celery import current_app
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.cache import caches
from django.core.files.storage import FileSystemStorage, storages
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.migrations.executor import MigrationExecutor

logger = logging.getLogger(__name__)

ARTIFACT_STORAGE = "artifacts"
# A name no artifact ever has (artifact files are stored under task ids).
STORAGE_PROBE_NAME = "webcap-health-probe"
CHANNEL_PREFIX = "webcap.health."

Check = Callable[[float], Any]


class CheckFailed(Exception):
    """A check's own verdict; its message is safe to show (it names no host or secret)."""


class _Expired(Exception):
    """The check did not finish within the timeout."""


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check: ok, how long it took, and a short safe reason if not ok."""

    ok: bool
    ms: float
    error: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "ms": self.ms, "error": self.error}


@dataclass(frozen=True)
class Readiness:
    """All checks of one probe, and the advisories that do not fail it."""

    checks: dict[str, CheckResult]
    warnings: list[dict[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(result.ok for result in self.checks.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": "ok" if self.ok else "fail",
            "checks": {name: result.as_dict() for name, result in self.checks.items()},
            "warnings": self.warnings,
        }


# --- Advisories ------------------------------------------------------------------------------
# Each returns a sentence for the operator, or None when all is well. They read settings only:
# cheap, no I/O, safe to show to an unauthenticated probe.

Advisory = Callable[[], str | None]
ADVISORIES: dict[str, Advisory] = {}


def advisory_register(name: str, advisory: Advisory) -> None:
    """Add an advisory that /health/ready and /health list under ``warnings``."""
    ADVISORIES[name] = advisory


def advisories() -> list[dict[str, str]]:
    """Return [{"name", "message"}] for every advisory that has something to say."""
    return [
        {"name": name, "message": message}
        for name, advisory in ADVISORIES.items()
        if (message := advisory()) is not None
    ]


# --- The checks ------------------------------------------------------------------------------
# Each takes the time limit in seconds and raises when the dependency is not usable.


def database_check(limit: float, *, connection: BaseDatabaseWrapper | None = None) -> None:
    """Run ``SELECT 1`` on the default database (or on connection)."""
    connection = connection or connections[DEFAULT_DB_ALIAS]
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    finally:
        # This pool thread serves no request, so nothing else would ever close it (with the
        # psycopg pool this hands the connection back).
        connection.close()


_migrated: set[str] = set()
_migrated_lock = threading.Lock()


def migrations_check(limit: float, *, connection: BaseDatabaseWrapper | None = None) -> None:
    """Fail while a migration is unapplied; once none is, say so without asking again."""
    connection = connection or connections[DEFAULT_DB_ALIAS]
    if connection.alias in _migrated:
        # Migrations only change with a deploy, which starts new processes.
        return
    try:
        executor = MigrationExecutor(connection)
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    finally:
        connection.close()
    if plan:
        raise CheckFailed(f"{len(plan)} migrations not applied")
    with _migrated_lock:
        _migrated.add(connection.alias)


_CACHE_KEY = f"webcap:health:{uuid.uuid4().hex}"


def cache_check(limit: float, *, alias: str = "default") -> None:
    """Write a key to a cache and read it back."""
    cache = caches[alias]
    token = uuid.uuid4().hex
    # One key per process that expires on its own: probes leave nothing behind.
    cache.set(_CACHE_KEY, token, timeout=60)
    if cache.get(_CACHE_KEY) != token:
        raise CheckFailed("the cache did not return the value just written")


def broker_check(limit: float) -> None:
    """Connect to the Celery broker (``memory://`` in the embedded mode always answers)."""
    connection = current_app.connection_for_write(
        url=settings.CELERY_BROKER_URL,
        connect_timeout=limit,
        # Redis transport: bound the connect and the PING it sends on connecting.
        transport_options={"socket_connect_timeout": limit, "socket_timeout": limit},
    )
    with connection:
        # One attempt: the probe asks again in a few seconds anyway.
        connection.ensure_connection(max_retries=0)


async def channel_layer_check(limit: float) -> None:
    """Send a message to a fresh channel of the channel layer and receive it."""
    layer = get_channel_layer()
    if layer is None:
        raise CheckFailed("no channel layer configured")
    channel = f"{CHANNEL_PREFIX}{uuid.uuid4().hex}"
    token = uuid.uuid4().hex
    await layer.send(channel, {"type": "health.probe", "token": token})
    message = await layer.receive(channel)
    if message.get("token") != token:
        raise CheckFailed("the channel layer returned another message")


def storage_check(limit: float, *, alias: str = ARTIFACT_STORAGE) -> None:
    """Check the artifact storage: a writable folder, or a bucket that answers."""
    storage: Any = storages[alias]
    if isinstance(storage, FileSystemStorage):
        # The folder is created on the first write: until then its nearest existing parent
        # must let us create it.
        folder = Path(storage.location)
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
        if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
            raise CheckFailed("the artifact folder is not writable")
        storage.exists(STORAGE_PROBE_NAME)
        return
    bucket = getattr(storage, "bucket_name", None)
    if bucket:
        # django-storages' S3Storage: a HEAD on the bucket proves it exists and we may use it.
        storage.connection.meta.client.head_bucket(Bucket=bucket)
        return
    storage.exists(STORAGE_PROBE_NAME)


# The checks /health/ready runs, in the order the response lists them.
CHECKS: dict[str, Check] = {
    "database": database_check,
    "cache": cache_check,
    "channel_layer": channel_layer_check,
    "broker": broker_check,
    "migrations": migrations_check,
    "storage": storage_check,
}


# --- Running them ----------------------------------------------------------------------------

_executor = concurrent.futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="health")
_inflight: dict[str, concurrent.futures.Future[Any]] = {}
_inflight_lock = threading.Lock()
_failing: dict[str, bool] = {}


def _submit(name: str, check: Check, limit: float) -> concurrent.futures.Future[Any]:
    """Start check in the pool, or return its attempt still running from an earlier probe."""
    with _inflight_lock:
        future = _inflight.get(name)
        if future is None or future.done():
            future = _executor.submit(check, limit)
            _inflight[name] = future
        return future


def _retrieve(future: asyncio.Future[Any]) -> None:
    # A result nobody waited for (the probe timed out first) is still "retrieved", so asyncio
    # does not log "exception was never retrieved" for it.
    if not future.cancelled():
        future.exception()


async def _run_blocking(name: str, check: Check, limit: float) -> None:
    waiter = asyncio.wrap_future(_submit(name, check, limit))
    waiter.add_done_callback(_retrieve)
    # asyncio.wait, not wait_for: the attempt may be shared with another probe, so a timeout
    # here must not cancel it.
    done, _ = await asyncio.wait({waiter}, timeout=limit)
    if not done:
        raise _Expired
    waiter.result()


async def _run_async(check: Check, limit: float) -> None:
    task: asyncio.Task[Any] = asyncio.ensure_future(check(limit))
    task.add_done_callback(_retrieve)
    done, _ = await asyncio.wait({task}, timeout=limit)
    if not done:
        task.cancel()
        # Let it unwind (a client closing its socket) before the probe answers.
        await asyncio.wait({task}, timeout=1)
        raise _Expired
    task.result()


_URL_CREDENTIALS = re.compile(r"(\w+://)[^/@\s]*@")


def _log_detail(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    detail = _URL_CREDENTIALS.sub(r"\1***@", lines[0]) if lines else ""
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__


def _causes(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain and len(chain) < 10:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def describe(exc: BaseException) -> str:
    """Return a short reason for a failed check that names no host, URL or secret."""
    if isinstance(exc, CheckFailed):
        return str(exc)
    name = type(exc).__name__
    for cause in _causes(exc):
        if isinstance(cause, ConnectionRefusedError) or (
            isinstance(cause, OSError) and cause.errno == errno.ECONNREFUSED
        ):
            return f"{name}: connection refused"
        if isinstance(cause, socket.gaierror):
            return f"{name}: name resolution failed"
        if isinstance(cause, TimeoutError):
            return f"{name}: timed out"
        if isinstance(cause, ConnectionError):
            return f"{name}: connection lost"
        response = getattr(cause, "response", None)
        if isinstance(response, dict):
            # botocore's ClientError: the HTTP status of the storage's answer.
            status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if status:
                return f"{name}: HTTP {status}"
    # Drivers word a refused connection in text only (psycopg, kombu).
    if "refused" in str(exc).lower():
        return f"{name}: connection refused"
    return name


def _note(name: str, error: str | None, detail: str) -> None:
    """Log a check that starts failing (with the driver's message) and one that recovers."""
    was_failing = _failing.get(name, False)
    _failing[name] = error is not None
    if error is not None and not was_failing:
        logger.warning("Readiness check %s failed: %s (%s)", name, error, detail)
    elif error is None and was_failing:
        logger.info("Readiness check %s passes again", name)


async def _run(name: str, check: Check, limit: float) -> CheckResult:
    started = time.perf_counter()
    error: str | None = None
    detail = "-"
    try:
        if inspect.iscoroutinefunction(check):
            await _run_async(check, limit)
        else:
            await _run_blocking(name, check, limit)
    except _Expired:
        error = f"timed out after {limit:g} s"
    except CheckFailed as exc:
        error = str(exc)
    except Exception as exc:
        error = describe(exc)
        detail = _log_detail(exc)
    ms = round((time.perf_counter() - started) * 1000, 1)
    _note(name, error, detail)
    return CheckResult(ok=error is None, ms=ms, error=error)


async def readiness(limit: float | None = None) -> Readiness:
    """Run every check at once, each bounded by limit seconds (HEALTH_CHECK_TIMEOUT)."""
    seconds: float = settings.HEALTH_CHECK_TIMEOUT if limit is None else limit
    checks = dict(CHECKS)
    results = await asyncio.gather(*(_run(name, check, seconds) for name, check in checks.items()))
    return Readiness(checks=dict(zip(checks, results, strict=True)), warnings=advisories())
