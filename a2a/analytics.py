"""Reads of the admin's analytics page: per-day counts of tasks, tool calls and tokens.

One aggregate query per series (``TruncDate`` in the current time zone, UTC by default), over
the rows the caller may read (``tasks_visible_to`` and friends: everything for admins and
operators). Days without rows are filled with zeros.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db.models import Case, CharField, Count, F, Q, QuerySet, Sum, Value, When
from django.db.models.functions import TruncDate
from django.utils import timezone

from a2a.models import TaskState
from a2a.selectors import tasks_visible_to
from accounts.models import User
from tools.models import ToolCallStatus
from tools.runs import INTERRUPTED
from tools.selectors import llm_calls_visible_to, tool_calls_visible_to

DAYS_DEFAULT = 30
DAYS_MAX = 366

# webcap_tool_calls_total's outcomes (the metrics contract), and calls not finished yet.
TOOL_CALL_OUTCOMES = ("success", "error", "cancelled", "rejected", "interrupted", "pending")
TOKEN_KINDS = ("prompt", "completion")


@dataclass(frozen=True)
class Series:
    """Per-day values of one thing, split by a key (a state, an outcome, a token kind)."""

    title: str
    keys: tuple[str, ...]
    days: tuple[date, ...]
    values: dict[date, dict[str, int]]

    def total(self, day: date) -> int:
        return sum(self.values[day].values())

    def totals(self) -> dict[str, int]:
        """Return the sum over the days of each key."""
        return {key: sum(self.values[day][key] for day in self.days) for key in self.keys}

    def grand_total(self) -> int:
        return sum(self.total(day) for day in self.days)

    def rows(self) -> list[dict[str, Any]]:
        """Return one row per day, newest first, with a bar width (percent of the busiest day)."""
        busiest = max((self.total(day) for day in self.days), default=0) or 1
        return [
            {
                "day": day,
                "cells": [self.values[day][key] for key in self.keys],
                "total": self.total(day),
                "percent": round(100 * self.total(day) / busiest),
            }
            for day in reversed(self.days)
        ]


def analytics_window(*, days: int, today: date | None = None) -> tuple[date, ...]:
    """Return the last days dates, oldest first, ending today (current time zone)."""
    end = today or timezone.localdate()
    return tuple(end - timedelta(days=offset) for offset in range(days - 1, -1, -1))


def _start(window: tuple[date, ...]) -> datetime:
    return datetime.combine(window[0], time.min, tzinfo=timezone.get_current_timezone())


def _series(
    title: str, keys: tuple[str, ...], window: tuple[date, ...], rows: list[dict[str, Any]]
) -> Series:
    """Fill a zero for every day and key, then add the rows ({day, key, n})."""
    values = {day: dict.fromkeys(keys, 0) for day in window}
    for row in rows:
        if row["day"] in values and row["key"] in values[row["day"]]:
            values[row["day"]][row["key"]] += row["n"] or 0
    return Series(title=title, keys=keys, days=window, values=values)


def _per_day(queryset: QuerySet[Any], window: tuple[date, ...]) -> QuerySet[Any]:
    """Narrow to the window and group by creation day (default ordering dropped)."""
    grouped: QuerySet[Any] = (
        queryset.filter(created_at__gte=_start(window))
        .annotate(day=TruncDate("created_at"))
        .order_by()
    )
    return grouped


def tasks_per_day(*, user: User, window: tuple[date, ...]) -> Series:
    """Tasks created each day, by the state they are in now (the final one once ended)."""
    rows = (
        _per_day(tasks_visible_to(user=user), window)
        .values("day", key=F("state"))
        .annotate(n=Count("pk"))
    )
    return _series("Tasks created, by state now", tuple(TaskState.values), window, list(rows))


def tool_calls_per_day(*, user: User, window: tuple[date, ...]) -> Series:
    """Tool calls requested each day, by outcome (as webcap_tool_calls_total counts them)."""
    outcome = Case(
        When(decision="rejected", then=Value("rejected")),
        When(status=ToolCallStatus.SUCCESS, then=Value("success")),
        When(
            Q(status=ToolCallStatus.ERROR, error__startswith=INTERRUPTED),
            then=Value("interrupted"),
        ),
        When(status=ToolCallStatus.ERROR, then=Value("error")),
        When(status=ToolCallStatus.CANCELLED, then=Value("cancelled")),
        default=Value("pending"),
        output_field=CharField(),
    )
    rows = (
        _per_day(tool_calls_visible_to(user=user), window)
        .values("day", key=outcome)
        .annotate(n=Count("pk"))
    )
    return _series("Tool calls requested, by outcome", TOOL_CALL_OUTCOMES, window, list(rows))


def tokens_per_day(*, user: User, window: tuple[date, ...]) -> Series:
    """Model tokens used each day (every LLMCall row: prompt and completion)."""
    sums = (
        _per_day(llm_calls_visible_to(user=user), window)
        .values("day")
        .annotate(prompt=Sum("prompt_tokens"), completion=Sum("completion_tokens"))
    )
    rows = [
        {"day": row["day"], "key": kind, "n": row[kind]} for row in sums for kind in TOKEN_KINDS
    ]
    return _series("Model tokens", TOKEN_KINDS, window, rows)
