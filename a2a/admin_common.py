"""What the admins of tasks and tool calls share: the read-only rule, one-line displays.

Protocol data (tasks, tool calls) changes only through the services: its admin pages add
and edit nothing, and only a superuser deletes. The displays: short ids, durations,
summaries of parts and arguments.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

from accounts.models import User

if TYPE_CHECKING:
    _Base = admin.ModelAdmin[Any]
else:
    _Base = object

SUMMARY_LENGTH = 300
SHORT_ID_LENGTH = 8


def short_id(value: Any) -> SafeString:
    """Return the first characters of an id, the whole id in the tooltip."""
    text = str(value)
    return format_html('<code title="{}">{}</code>', text, text[:SHORT_ID_LENGTH])


def truncated(text: str, limit: int = SUMMARY_LENGTH) -> str:
    """Return text cut to limit characters, marked with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def json_summary(value: Any, limit: int = SUMMARY_LENGTH) -> str:
    """Return a value as compact JSON on one line, cut to limit characters."""
    return truncated(json.dumps(value, ensure_ascii=False, sort_keys=True, default=str), limit)


def parts_summary(parts: Any, limit: int = SUMMARY_LENGTH) -> str:
    """Return the text of message or artifact parts; other parts as compact JSON."""
    shown = []
    for part in parts if isinstance(parts, list) else [parts]:
        if isinstance(part, dict) and isinstance(part.get("text"), str):
            shown.append(part["text"])
        else:
            shown.append(json_summary(part, limit))
    return truncated(" | ".join(shown), limit)


def seconds_text(seconds: float) -> str:
    """Return a duration for people: 4.2 s, 3 m 5 s, 2 h 10 m, 3 d 4 h."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = int(seconds)
    if whole < 3600:
        return f"{whole // 60} m {whole % 60} s"
    if whole < 86400:
        return f"{whole // 3600} h {whole % 3600 // 60} m"
    return f"{whole // 86400} d {whole % 86400 // 3600} h"


def duration_text(*, start: datetime, end: datetime | None) -> str:
    """Return the time from start to end, or to now with "so far" while there is no end."""
    if end is not None:
        return seconds_text(max(0.0, (end - start).total_seconds()))
    return seconds_text(max(0.0, (timezone.now() - start).total_seconds())) + " so far"


def admin_user(request: HttpRequest) -> User:
    """Return the signed-in person (the admin site lets only signed-in staff in)."""
    user = request.user
    assert isinstance(user, User)
    return user


class ProtocolAdminMixin(_Base):
    """Read-only pages for protocol data; ``change_page_context`` adds to an object's page."""

    def change_page_context(self, request: HttpRequest, obj: Any) -> dict[str, Any]:
        return {}

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Any = None,
    ) -> HttpResponse:
        if obj is not None:
            context.update(self.change_page_context(request, obj))
        return super().render_change_form(request, context, add, change, form_url, obj)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # the services change protocol data, never a form

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return admin_user(request).is_superuser and super().has_delete_permission(request, obj)
