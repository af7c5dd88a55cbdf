"""Health endpoints."""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import DatabaseError
from django.db.models import Count
from django.http import HttpRequest, JsonResponse

from a2a.card import WEBCAP_VERSION
from a2a.models import Task, TaskState


def _counts() -> dict[str, Any]:
    by_state = dict(Task.objects.values_list("state").annotate(n=Count("id")).order_by())
    return {
        "tasks": {
            "total": sum(by_state.values()),
            "byState": {state: by_state.get(state, 0) for state in TaskState.values},
        }
    }


async def health(request: HttpRequest) -> JsonResponse:
    """GET /health: status, mode, version and task counts; 503 when the database is down."""
    body: dict[str, Any] = {
        "status": "ok",
        "version": WEBCAP_VERSION,
        "mode": "embedded" if settings.EMBEDDED else "production",
        "agent": settings.WEBCAP_AGENT,
    }
    try:
        body["counts"] = await sync_to_async(_counts)()
    except DatabaseError as exc:
        body.update(status="fail", error=f"database: {exc.__class__.__name__}")
        return JsonResponse(body, status=503)
    return JsonResponse(body)
