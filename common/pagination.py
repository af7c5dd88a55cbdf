"""The management API's pages: ``?page=`` (or ``?cursor=``) and ``?page_size=``, checked.

``?page_size=`` is a whole number from 1 to ``WEBCAP_MAX_PAGE_SIZE``, the same bound as an
A2A ListTasks ``pageSize``; anything else is a 400 naming the parameter and the rule (DRF
alone silently falls back to the default for ``page_size=true`` or ``0``). The schema says
the same (``minimum``/``maximum``), so what the description allows, the server accepts.
``?page=`` is a whole number from 1; a page past the last is a 404.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination, PageNumberPagination
from rest_framework.request import Request

DEFAULT_PAGE_SIZE = 50
PAGE_SIZE = "page_size"
PAGE = "page"
# A page number longer than this is past the last page of any list.
MAX_DIGITS = 18


def _whole_number(request: Request, name: str, *, low: int, high: int | None) -> int | None:
    """Return the query parameter as an int within [low, high], None when absent."""
    raw = request.query_params.get(name)
    if raw is None:
        return None
    bound = f"from {low} to {high}" if high is not None else f"from {low}"
    if not (raw.isascii() and raw.isdigit()):
        raise ValidationError({name: [f"must be a whole number {bound}; got {raw[:32]!r}"]})
    if high is None and len(raw) > MAX_DIGITS:
        raise NotFound(f"There is no page {raw[:32]}...")  # past any last page
    value = int(raw[: MAX_DIGITS + 1])
    if value < low or (high is not None and value > high):
        shown = value if len(raw) <= MAX_DIGITS else f"{raw[:32]}..."
        raise ValidationError({name: [f"must be a whole number {bound}; got {shown}"]})
    return value


def page_size(request: Request) -> int:
    """Return the page size the request asks for (checked), or the default."""
    cap = settings.WEBCAP_MAX_PAGE_SIZE
    asked = _whole_number(request, PAGE_SIZE, low=1, high=cap)
    return asked if asked is not None else min(DEFAULT_PAGE_SIZE, cap)


def page_size_schema() -> dict[str, Any]:
    cap = settings.WEBCAP_MAX_PAGE_SIZE
    return {"type": "integer", "minimum": 1, "maximum": cap, "default": min(DEFAULT_PAGE_SIZE, cap)}


def _parameter(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "required": False,
        "in": "query",
        "description": description,
        "schema": schema,
    }


PAGE_SIZE_DESCRIPTION = "How many results per page."
PAGE_DESCRIPTION = "Which page, from 1; past the last page is a 404."


class Pages(PageNumberPagination):
    """Numbered pages (``count``, ``next``, ``previous``, ``results``), checked parameters."""

    page_size = DEFAULT_PAGE_SIZE
    page_size_query_param = PAGE_SIZE

    def get_page_size(self, request: Request) -> int:
        return page_size(request)

    def get_page_number(self, request: Request, paginator: Any) -> Any:
        number = _whole_number(request, PAGE, low=1, high=None)
        return number if number is not None else 1

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        return [
            _parameter(PAGE, {"type": "integer", "minimum": 1}, PAGE_DESCRIPTION),
            _parameter(PAGE_SIZE, page_size_schema(), PAGE_SIZE_DESCRIPTION),
        ]


class CursorPages(CursorPagination):
    """Cursor pages, newest first (``next``, ``previous``, ``results``), checked page size."""

    page_size = DEFAULT_PAGE_SIZE
    page_size_query_param = PAGE_SIZE

    def get_page_size(self, request: Request) -> int:
        return page_size(request)

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        cursor = _parameter(
            self.cursor_query_param,
            {"type": "string"},
            "The cursor from a page's next or previous link; one that was not is a 404.",
        )
        return [cursor, _parameter(PAGE_SIZE, page_size_schema(), PAGE_SIZE_DESCRIPTION)]


def page_parameters() -> list[OpenApiParameter]:
    """``page`` and ``page_size`` for a view that pages with Pages by hand (extend_schema)."""
    return [
        OpenApiParameter(
            PAGE,
            {"type": "integer", "minimum": 1},
            OpenApiParameter.QUERY,
            description=PAGE_DESCRIPTION,
        ),
        OpenApiParameter(
            PAGE_SIZE, page_size_schema(), OpenApiParameter.QUERY, description=PAGE_SIZE_DESCRIPTION
        ),
    ]
