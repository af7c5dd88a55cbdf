"""List filters of the admin that never load a table to offer their choices.

A text box filter (owner, context id) instead of Django's related-field filter, which lists
every user; choice filters built from what the code registers (agents, tools) instead of a
``SELECT DISTINCT`` over the whole table.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.db.models import QuerySet
from django.http import HttpRequest

from a2a.registry import AGENTS

# Longer values cannot match a username or a context id; they are cut, never an error.
INPUT_MAX_LENGTH = 256


class InputFilter(admin.SimpleListFilter):
    """A filter with a text box; the rows whose ``field`` equals what was typed.

    The box submits with the page's other filters, search and ordering kept (hidden inputs).
    """

    template = "admin/webcap/input_filter.html"
    field: str = ""

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[Any, str]]:
        return []

    def has_output(self) -> bool:
        return True  # a text box, not a list of choices

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = (self.value() or "").strip()[:INPUT_MAX_LENGTH]
        if not value:
            return queryset
        return queryset.filter(**{self.field: value})

    def choices(self, changelist: ChangeList) -> Iterator[Any]:
        name = str(self.parameter_name)
        kept = [(key, value) for key, value in changelist.params.items() if key != name]
        clear = changelist.get_query_string(remove=[name])
        yield {
            "parameter_name": name,
            "value": self.value() or "",
            "kept": kept,
            "selected": self.value() is not None,
            "query_string": clear,
            "display": "All",
        }


class OwnerFilter(InputFilter):
    title = "owner (username)"
    parameter_name = "owner"
    field = "owner__username"


class ContextFilter(InputFilter):
    title = "context id"
    parameter_name = "context"
    field = "context__key"


class NamedChoiceFilter(admin.SimpleListFilter):
    """Choices from a list the code knows (no query); ``field`` equals the chosen one."""

    field: str = ""

    def names(self) -> list[str]:
        raise NotImplementedError

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[Any, str]]:
        return [(name, name) for name in self.names()]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        return queryset if value is None else queryset.filter(**{self.field: value})


class AgentFilter(NamedChoiceFilter):
    title = "agent"
    parameter_name = "agent"
    field = "agent"

    def names(self) -> list[str]:
        return sorted(AGENTS)
