"""The DRF exception handler: application and protocol errors become clear 4xx bodies.

A lost database (``common/database.py``) is a 503 with Retry-After, in the same shape.
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.views import exception_handler

from a2a.protocol.errors import A2AError
from common.database import DATABASE_ERRORS, database_unavailable, detail_body, retry_after
from common.errors import ApplicationError
from common.jsontext import json_loads


class TextField(serializers.CharField):
    """A CharField that takes JSON strings only: DRF's own also turns 0 into "0", which the
    published schema (``type: string``) calls invalid."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return str(super().to_internal_value(data))


class JSONBodyParser(JSONParser):
    """DRF's JSON parser, with errors that name the problem (common/jsontext.py)."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            return json_loads(stream.read(), allow_constants=False)
        except ValueError as exc:
            raise ParseError(f"JSON parse error: {exc}") from None


def drf_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Render ApplicationError and A2AError like DRF's own errors: ``{"detail": ...}``."""
    if isinstance(exc, ApplicationError):
        return Response({"detail": exc.message, "extra": exc.extra}, status=exc.status_code)
    if isinstance(exc, DATABASE_ERRORS):
        exc = database_unavailable(exc)
    if isinstance(exc, A2AError):
        wait = retry_after(exc)
        headers = {"Retry-After": wait} if wait is not None else None
        return Response(detail_body(exc), status=exc.http_status, headers=headers)
    return exception_handler(exc, context)
