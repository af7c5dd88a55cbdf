"""The admin's analytics page, /admin/analytics/: per-day counts of the last N days.

Staff only (the admin site's own check: anonymous people and non-staff go to its sign-in
page) who also hold the ``a2a.view_task`` permission (403 otherwise): admins and operators
by their groups, superusers always. ``?days=`` is 1 to 366 (30 when absent); anything else
is a 400 page saying so.
"""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from a2a.analytics import (
    DAYS_DEFAULT,
    DAYS_MAX,
    analytics_window,
    tasks_per_day,
    tokens_per_day,
    tool_calls_per_day,
)
from accounts.models import User

VIEW_PERMISSION = "a2a.view_task"


def _days(raw: str | None) -> int | None:
    """Return ?days= as a number of days, or None when it is not one from 1 to DAYS_MAX."""
    if raw is None:
        return DAYS_DEFAULT
    try:
        days = int(raw.strip())
    except ValueError:
        return None
    return days if 1 <= days <= DAYS_MAX else None


def analytics(request: HttpRequest) -> HttpResponse:
    """Show tasks, tool calls and tokens per day, one aggregate query per series."""
    user = request.user
    assert isinstance(user, User)  # admin_view let only active staff in
    if not user.has_perm(VIEW_PERMISSION):
        raise PermissionDenied
    context = {
        **admin.site.each_context(request),
        "title": "Analytics",
        "days_max": DAYS_MAX,
    }
    days = _days(request.GET.get("days"))
    if days is None:
        context["error"] = f"days must be a whole number from 1 to {DAYS_MAX}."
        context["days"] = DAYS_DEFAULT
        return TemplateResponse(request, "admin/webcap/analytics.html", context, status=400)
    window = analytics_window(days=days)
    context["days"] = days
    context["first_day"], context["last_day"] = window[0], window[-1]
    context["series"] = [
        tasks_per_day(user=user, window=window),
        tool_calls_per_day(user=user, window=window),
        tokens_per_day(user=user, window=window),
    ]
    return TemplateResponse(request, "admin/webcap/analytics.html", context)


# admin_view: the admin's sign-in redirect, CSRF protection and never-cache headers.
analytics_view = admin.site.admin_view(analytics)
