"""The admin as the management dashboard: tasks with their whole trail, push webhooks.

Tasks are changed only through the A2A services, so their pages are read-only; only a
superuser may delete one. The lists show the tasks the signed-in person may read
(``a2a.selectors.tasks_visible_to``: every task for admins and operators). The per-day
analytics page is ``a2a/admin_analytics.py``.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import admin
from django.db.models import Count, Q, QuerySet, Sum
from django.http import HttpRequest
from django.urls import reverse

from a2a.admin_common import (
    ProtocolAdminMixin,
    admin_user,
    duration_text,
    json_summary,
    parts_summary,
    short_id,
)
from a2a.admin_filters import AgentFilter, ContextFilter, OwnerFilter
from a2a.models import (
    Artifact,
    ArtifactVersion,
    Context,
    DeliveryStatus,
    Message,
    PushConfig,
    PushDelivery,
    Task,
    TaskEvent,
)
from a2a.selectors import artifact_files_by_version, tasks_visible_to
from a2a.services.push import push_deliveries_retry
from audit.admin_mixins import AuditedAdminMixin
from remote_agents.delegation import task_federation
from tools.models import LLMCall, ToolCall

# The newest rows of each kind a task page shows; the total is shown beside them.
DETAIL_LIMIT = 200
ARTIFACT_LIMIT = 100
# "abc123de": the short id the list shows, typed into the search box.
_HEX = frozenset("0123456789abcdef-")

# The dashboard's entry: the admin index links to the analytics page.
admin.site.index_template = "admin/webcap/index.html"


def _newest(queryset: QuerySet[Any], order: str) -> list[Any]:
    """Return the newest DETAIL_LIMIT rows by order (a field), oldest first."""
    rows = list(queryset.order_by(f"-{order}")[:DETAIL_LIMIT])
    rows.reverse()
    return rows


def task_trail(*, task: Task) -> dict[str, Any]:
    """Return what a task page shows below the task: bounded lists with their totals."""
    messages = _newest(Message.objects.filter(task=task), "position")
    artifacts = list(
        Artifact.objects.filter(task=task).order_by("created_at", "id")[:ARTIFACT_LIMIT]
    )
    files = artifact_files_by_version(artifact_ids=[a.pk for a in artifacts])
    versions: dict[uuid.UUID, list[ArtifactVersion]] = {a.pk: [] for a in artifacts}
    for version in ArtifactVersion.objects.filter(artifact__in=artifacts).order_by("version"):
        versions[version.artifact_id].append(version)
    calls = _newest(ToolCall.objects.filter(task=task), "created_at")
    # Three indexed counts: one query joining all three would multiply their rows.
    counts = {
        "messages": Message.objects.filter(task=task).count(),
        "artifacts": Artifact.objects.filter(task=task).count(),
        "tool_calls": ToolCall.objects.filter(task=task).count(),
    }
    usage = LLMCall.objects.filter(task=task).aggregate(
        calls=Count("id"),
        prompt_tokens=Sum("prompt_tokens", default=0),
        completion_tokens=Sum("completion_tokens", default=0),
        cost_usd=Sum("cost_usd", default=0),
        failed=Count("id", filter=~Q(outcome="ok")),
    )
    return {
        "limit": DETAIL_LIMIT,
        "messages": [{"row": m, "summary": parts_summary(m.parts)} for m in messages],
        "message_count": counts["messages"],
        "artifacts": [
            {
                "row": a,
                "summary": parts_summary(a.parts),
                "files": files.get((a.pk, a.version), []),
                "versions": [
                    {"row": v, "files": files.get((a.pk, v.version), [])} for v in versions[a.pk]
                ],
            }
            for a in artifacts
        ],
        "artifact_count": counts["artifacts"],
        "artifact_limit": ARTIFACT_LIMIT,
        "tool_calls": [
            {
                "row": c,
                "arguments": json_summary(c.arguments, 120),
                "url": reverse("admin:tools_toolcall_change", args=[c.pk]),
            }
            for c in calls
        ],
        "tool_call_count": counts["tool_calls"],
        # Events are numbered 1, 2, 3...: the newest's number is how many there are.
        "events": _newest(TaskEvent.objects.filter(task=task), "seq"),
        "event_count": task.last_seq,
        "usage": usage,
        # Sub-tasks at other agents, as a tree, and the agent that asked for this task.
        "federation": task_federation(task=task),
    }


WIRE_SNAPSHOTS = ("wire_history", "wire_artifacts")


@admin.register(Task)
class TaskAdmin(AuditedAdminMixin, ProtocolAdminMixin, admin.ModelAdmin[Task]):
    """Tasks are changed only through the A2A services; the admin shows them and their trail."""

    list_display = (
        "task_id",
        "state",
        "owner_name",
        "context_key",
        "agent",
        "created_at",
        "updated_at",
        "duration",
    )
    list_filter = ("state", OwnerFilter, ContextFilter, AgentFilter)
    list_select_related = ("owner", "context")
    date_hierarchy = "created_at"
    ordering = ("-created_at", "-id")
    # The id (a whole UUID, or the short id the list shows) or the exact context id.
    search_fields = ("id", "context__key")
    search_help_text = "A task id (whole or its first characters) or a context id."
    # Counting every task on each page of a large table is what makes lists slow.
    show_full_result_count = False
    # The wire history and artifacts repeat the messages and artifacts the page shows.
    exclude = WIRE_SNAPSHOTS
    readonly_fields = [f.name for f in Task._meta.fields if f.name not in WIRE_SNAPSHOTS]
    change_form_template = "admin/a2a/task/change_form.html"

    @admin.display(description="id", ordering="id")
    def task_id(self, task: Task) -> str:
        return short_id(task.pk)

    @admin.display(description="owner", ordering="owner__username")
    def owner_name(self, task: Task) -> str:
        return task.owner.get_username()

    @admin.display(description="context id", ordering="context__key")
    def context_key(self, task: Task) -> str:
        return task.context.key

    @admin.display(description="duration")
    def duration(self, task: Task) -> str:
        # A task ends with its last status change; an open one has run until now.
        return duration_text(
            start=task.created_at, end=task.status_timestamp if task.is_terminal else None
        )

    def get_queryset(self, request: HttpRequest) -> QuerySet[Task]:
        return tasks_visible_to(user=admin_user(request)).defer(*WIRE_SNAPSHOTS)

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Task], search_term: str
    ) -> tuple[QuerySet[Task], bool]:
        term = search_term.strip()
        if not term:
            return queryset, False
        match = Q(context__key=term)
        try:
            match |= Q(pk=uuid.UUID(term))
        except ValueError:
            if set(term.lower()) <= _HEX:
                match |= Q(id__startswith=term.lower())
        return queryset.filter(match), False

    def change_page_context(self, request: HttpRequest, obj: Task) -> dict[str, Any]:
        return {"trail": task_trail(task=obj)}


@admin.register(Context)
class ContextAdmin(AuditedAdminMixin, admin.ModelAdmin[Context]):
    list_display = ("key", "owner", "created_at")
    list_select_related = ("owner",)
    search_fields = ("key", "owner__username")
    readonly_fields = ("id", "owner", "key", "created_at", "updated_at")


@admin.register(PushConfig)
class PushConfigAdmin(AuditedAdminMixin, admin.ModelAdmin[PushConfig]):
    """Webhooks are created over A2A; the admin shows them (credentials stay hidden)."""

    list_display = ("config_id", "task", "owner", "url", "created_at")
    list_select_related = ("task", "owner")
    search_fields = ("config_id", "url", "task__id", "owner__username")
    exclude = ("auth_credentials",)
    readonly_fields = (
        "id",
        "task",
        "owner",
        "config_id",
        "url",
        "token",
        "auth_scheme",
        "lease_until",
    )

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False


@admin.register(PushDelivery)
class PushDeliveryAdmin(AuditedAdminMixin, admin.ModelAdmin[PushDelivery]):
    """The push outbox: dead-lettered deliveries are listed here and can be retried."""

    list_display = (
        "id",
        "task",
        "event",
        "url",
        "status",
        "attempts",
        "last_status_code",
        "updated_at",
    )
    list_filter = ("status",)
    list_select_related = ("task", "event")
    search_fields = ("url", "task__id")
    readonly_fields = [f.name for f in PushDelivery._meta.fields]
    actions = ["retry"]

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False

    @admin.action(description="Retry the selected dead-lettered deliveries")
    def retry(self, request, queryset):  # type: ignore[no-untyped-def]
        count = push_deliveries_retry(deliveries=list(queryset.filter(status=DeliveryStatus.DEAD)))
        self.message_user(request, f"{count} deliveries queued again.")
