"""The DRF exception handler: application and protocol errors become clear 4xx bodies."""

from __future__ import annotations

from typing import Any

from rest_framework.response import Response
from rest_framework.views import exception_handler

from a2a.protocol.errors import A2AError, RateLimitedError
from common.errors import ApplicationError


def drf_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Render ApplicationError and A2AError like DRF's own errors: ``{"detail": ...}``."""
    if isinstance(exc, ApplicationError):
        return Response({"detail": exc.message, "extra": exc.extra}, status=exc.status_code)
    if isinstance(exc, RateLimitedError):
        return Response(
            {"detail": exc.message, "code": exc.reason, "retryAfter": exc.retry_after},
            status=exc.http_status,
            headers={"Retry-After": str(exc.retry_after)},
        )
    if isinstance(exc, A2AError):
        return Response({"detail": exc.message, "code": exc.reason}, status=exc.http_status)
    return exception_handler(exc, context)
