"""Health endpoints: ``/health/live`` (liveness), ``/health/ready`` (readiness), ``/health``.

None needs credentials (Kubernetes probes send none) and none says more than "ok" or a short
reason per dependency: no host name, URL or driver message (common/health.py). Every answer
carries ``Cache-Control: no-store``. ``HealthProbeMiddleware`` (below) answers the two
probe paths (``PROBES``) ahead of the rest of the middleware.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import async_to_sync, iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_safe

from a2a.card import WEBCAP_VERSION
from a2a.selectors import task_states
from common.health import readiness
from common.request_context import RequestContextMiddleware

NO_STORE = {"Cache-Control": "no-store"}


def _answer(body: dict[str, Any], *, ok: bool = True) -> JsonResponse:
    response = JsonResponse(body, status=200 if ok else 503, headers=NO_STORE)
    # common.health logs a check once when it starts failing; django.request would add an
    # ERROR line for every probe of every pod during an outage.
    response._has_been_logged = True  # type: ignore[attr-defined]
    return response


def _counts() -> dict[str, Any]:
    by_state = {state: found.count for state, found in task_states().items()}
    return {"tasks": {"total": sum(by_state.values()), "byState": by_state}}


@require_safe
async def health_live(request: HttpRequest) -> JsonResponse:
    """GET /health/live: the process serves requests; no dependency is touched."""
    return _answer({"status": "ok"})


@require_safe
async def health_ready(request: HttpRequest) -> JsonResponse:
    """GET /health/ready: every dependency answers; 503 naming the ones that do not."""
    report = await readiness()
    return _answer(report.as_dict(), ok=report.ok)


@require_safe
async def health(request: HttpRequest) -> JsonResponse:
    """GET /health: status, mode, version, task counts and the readiness checks; 503 on a
    failed check or when the database cannot count the tasks."""
    report = await readiness()
    body: dict[str, Any] = {
        "status": "ok",
        "version": WEBCAP_VERSION,
        "mode": "embedded" if settings.EMBEDDED else "production",
        "agent": settings.WEBCAP_AGENT,
    }
    database = report.checks.get("database")
    if database is not None and not database.ok:
        # Counting would only wait for the database pool's own timeout.
        body.update(status="fail", error=f"database: {database.error}")
    else:
        try:
            body["counts"] = await sync_to_async(_counts)()
        except DatabaseError as exc:
            body.update(status="fail", error=f"database: {exc.__class__.__name__}")
    if not report.ok:
        body["status"] = "fail"
    body["checks"] = report.as_dict()["checks"]
    body["warnings"] = report.warnings
    return _answer(body, ok=body["status"] == "ok")


PROBES: dict[str, Callable[[HttpRequest], Awaitable[HttpResponse]]] = {
    "/health/live": health_live,
    "/health/ready": health_ready,
}


class HealthProbeMiddleware:
    """Answer GET/HEAD on the probe paths before the rest of the middleware runs.

    Placed first in MIDDLEWARE: no host validation (CommonMiddleware would answer 400 to a
    probe's ``Host: <pod IP>``), no HTTPS redirect, no session, and no request log line every
    few seconds per pod. Other methods fall through to the views, which answer 405. Each probe
    still runs inside ``RequestContextMiddleware``: its answer echoes ``X-Request-ID`` (or a
    generated id) like every other response, and a readiness failure it logs carries that id.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.probes: dict[str, Callable[[HttpRequest], Any]] = {
            path: RequestContextMiddleware(view) for path, view in PROBES.items()
        }
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        probe = self.probes.get(request.path_info) if request.method in ("GET", "HEAD") else None
        if self.is_async:
            return self.__acall__(request, probe)
        if probe is not None:
            return async_to_sync(probe)(request)
        return self.get_response(request)

    async def __acall__(
        self, request: HttpRequest, probe: Callable[[HttpRequest], Any] | None
    ) -> HttpResponse:
        response: HttpResponse = await (probe or self.get_response)(request)
        return response
