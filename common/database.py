"""A lost database is a 503 with Retry-After on every interface, never a 500.

Django raises ``OperationalError`` (cannot connect, connection pool timed out, the server
shut down, a statement cancelled) or ``InterfaceError`` (the connection is already closed)
while PostgreSQL is down or restarting; SQLite raises ``OperationalError`` when its lock
wait times out. Each of these is a condition the client should retry, not a server bug.

``database_unavailable`` turns one into the protocol's ServiceUnavailableError (HTTP 503,
gRPC UNAVAILABLE, ``retryAfter`` in its ErrorInfo metadata). The A2A dispatcher calls it for
every A2A binding (``a2a_errors`` in a2a/protocol/dispatcher.py), the DRF exception handler
for the REST API; every other Django view is covered by ``DatabaseUnavailableMiddleware``.
How long a request may wait for the database is bounded by the connection settings:
``DATABASE_CONNECT_TIMEOUT`` and, with the pool, ``DATABASE_POOL_TIMEOUT``
(docs/operations.md, "Database outage").
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import InterfaceError, OperationalError, connections
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.deprecation import MiddlewareMixin

from a2a.protocol.errors import A2AError, ServiceUnavailableError

logger = logging.getLogger(__name__)

DATABASE_ERRORS: tuple[type[Exception], ...] = (OperationalError, InterfaceError)
# Seconds a client is told to wait: a PostgreSQL restart or fail-over takes a few seconds.
RETRY_AFTER_SECONDS = 5
MESSAGE = f"The database is unavailable; retry in {RETRY_AFTER_SECONDS} s"


def database_unavailable(exc: BaseException) -> ServiceUnavailableError:
    """Log the lost database and return the 503 error a client gets for it."""
    # One line per failed request, no traceback: an outage must not flood the log, and the
    # driver's message ("connection refused", "pool timeout") says what went wrong.
    detail = str(exc).strip().splitlines()
    logger.error("Database unavailable: %s: %s", type(exc).__name__, detail[0] if detail else "-")
    return ServiceUnavailableError(
        MESSAGE,
        metadata={"retryAfter": str(RETRY_AFTER_SECONDS), "dependency": "database"},
    )


def connections_close_broken() -> None:
    """Close this thread's database connections that no longer work.

    Django does this (for connections an error marked) at the start and end of every request
    it handles; the A2A fast path (a2a/asgi.py) keeps a connection per thread for many
    requests, so it calls this in each of its threads after a request that answered 5xx:
    the next request then connects afresh instead of failing on a connection that died with
    the server. A connection no error has marked yet is asked (``SELECT 1``).
    """
    for connection in connections.all(initialized_only=True):
        if connection.errors_occurred:
            connection.close_if_unusable_or_obsolete()
        elif connection.connection is not None and not connection.is_usable():
            connection.close()


def retry_after(error: A2AError) -> str | None:
    """Return the Retry-After header value an error asks for (429 and 503 errors), if any."""
    return error.metadata.get("retryAfter")


def detail_body(error: A2AError) -> dict[str, Any]:
    """Return a protocol error in DRF's shape: ``{"detail", "code"[, "retryAfter"]}``."""
    body: dict[str, Any] = {"detail": error.message, "code": error.reason}
    wait = retry_after(error)
    if wait is not None:
        body["retryAfter"] = int(wait)
    return body


class DatabaseUnavailableMiddleware(MiddlewareMixin):
    """Answer a view's database error with a 503 JSON body and Retry-After.

    Views that render their own errors (the A2A bindings, DRF) never let one through; this
    is for the rest (admin, the approval page, anything added later). Sync and async.
    """

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, DATABASE_ERRORS):
            return None
        error = database_unavailable(exception)
        return JsonResponse(
            detail_body(error),
            status=error.http_status,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
