"""Tool calls, transcripts and model calls in the admin; pending calls are decided here.

A decision, from the list's actions or the buttons on a call's page, goes through
``tools.services.tool_call_decide``, exactly as the REST API and the approval page: the same
rights (the task's owner, an approver it is shared with for approval, admins), the same
refusals and the same audit events. A call that does not wait for a decision is skipped,
and the message says why. Lists hold the calls of the tasks the signed-in person may read.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from a2a.admin_common import ProtocolAdminMixin, admin_user, json_summary, short_id
from a2a.admin_filters import NamedChoiceFilter
from a2a.selectors import APPROVE, task_allows
from accounts.roles import manages_tools
from audit.admin_mixins import AuditedAdminMixin
from common.errors import ApplicationError
from tools.models import (
    LLMCall,
    ToolCall,
    ToolCallStatus,
    ToolPolicy,
    ToolSource,
    ToolVersion,
    TranscriptEntry,
    VersionState,
)
from tools.registry import REGISTRY, tools_load
from tools.selectors import llm_calls_visible_to, tool_calls_visible_to
from tools.services import tool_call_decide
from tools.sources.services import tool_source_refresh, tool_source_update, tool_version_state_set

# The decision reason the list's actions record (the model reads it with a rejection).
ACTION_REASON = "decided in the admin"
REASON_MAX_LENGTH = 2000
# How many skipped calls a message names one by one.
SKIPS_SHOWN = 10


def _waits(call: ToolCall) -> bool:
    return call.status == ToolCallStatus.AWAITING_APPROVAL and not call.decision


def _not_waiting(call: ToolCall) -> str:
    decided = f" ({call.decision})" if call.decision else ""
    return (
        f"{call.tool} {str(call.pk)[:8]} is {call.status}{decided}: it does not wait for a decision"
    )


def tool_call_decide_in_admin(
    request: HttpRequest, call: ToolCall, *, approved: bool, reason: str
) -> str | None:
    """Decide one call through the service; return why it was skipped, or None when decided."""
    if not _waits(call):
        # The service would take the same decision again as a no-op: say so instead.
        return _not_waiting(call)
    try:
        tool_call_decide(
            user=admin_user(request), tool_call_id=str(call.pk), approved=approved, reason=reason
        )
    except ApplicationError as exc:
        return f"{call.tool} {str(call.pk)[:8]}: {exc.message.rstrip('.')}"
    return None


class ToolFilter(NamedChoiceFilter):
    title = "tool"
    parameter_name = "tool"
    field = "tool"

    def names(self) -> list[str]:
        tools_load()
        return sorted(REGISTRY)


@admin.register(ToolCall)
class ToolCallAdmin(AuditedAdminMixin, ProtocolAdminMixin, admin.ModelAdmin[ToolCall]):
    """Tool calls with their arguments and results; pending ones can be decided here."""

    list_display = (
        "call_id",
        "tool",
        "status",
        "decision",
        "requester",
        "task_link",
        "arguments_summary",
        "created_at",
    )
    list_filter = ("status", "decision", ToolFilter)
    list_select_related = ("requester",)
    date_hierarchy = "created_at"
    ordering = ("-created_at", "position")
    # idempotency_key: find the call behind a request a downstream reports.
    search_fields = ("id", "idempotency_key", "tool", "task__id", "requester__username")
    show_full_result_count = False
    readonly_fields = [f.name for f in ToolCall._meta.fields]
    actions = ["approve", "reject"]
    change_form_template = "admin/tools/toolcall/change_form.html"

    @admin.display(description="id", ordering="id")
    def call_id(self, call: ToolCall) -> str:
        return short_id(call.pk)

    @admin.display(description="task", ordering="task_id")
    def task_link(self, call: ToolCall) -> str:
        url = reverse("admin:a2a_task_change", args=[call.task_id])
        return format_html('<a href="{}">{}</a>', url, short_id(call.task_id))

    @admin.display(description="arguments")
    def arguments_summary(self, call: ToolCall) -> str:
        return json_summary(call.arguments, 120)

    def get_queryset(self, request: HttpRequest) -> QuerySet[ToolCall]:
        return tool_calls_visible_to(user=admin_user(request))

    def get_urls(self) -> list[URLPattern]:
        decide = self.admin_site.admin_view(require_POST(self.decide_view))
        return [
            path("<path:object_id>/decide/", decide, name="tools_toolcall_decide"),
            *super().get_urls(),
        ]

    def decide_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Approve or reject one call from the buttons on its page (POST, CSRF-checked)."""
        call = self.get_object(request, object_id)
        if call is None:  # missing, or of a task the person may not read
            raise Http404("No such tool call.")
        if not self.has_view_permission(request, call):
            raise PermissionDenied
        decision = request.POST.get("decision")
        if decision not in ("approve", "reject"):
            self.message_user(request, "Choose approve or reject.", messages.ERROR)
        else:
            approved = decision == "approve"
            reason = request.POST.get("reason", "").strip()[:REASON_MAX_LENGTH]
            skipped = tool_call_decide_in_admin(request, call, approved=approved, reason=reason)
            if skipped is None:
                verb = "Approved" if approved else "Rejected"
                self.message_user(request, f"{verb} {call.tool} {str(call.pk)[:8]}.")
            else:
                self.message_user(request, f"Not decided: {skipped}.", messages.WARNING)
        return HttpResponseRedirect(reverse("admin:tools_toolcall_change", args=[call.pk]))

    def change_page_context(self, request: HttpRequest, obj: ToolCall) -> dict[str, Any]:
        return {
            # Buttons only where the service would accept the decision.
            "decidable": _waits(obj)
            and task_allows(user=admin_user(request), task=obj.task, permission=APPROVE),
            "decide_url": reverse("admin:tools_toolcall_decide", args=[obj.pk]),
            "reason_max_length": REASON_MAX_LENGTH,
        }

    def _decide(self, request: HttpRequest, queryset: QuerySet[ToolCall], approved: bool) -> None:
        decided, skipped = 0, []
        for call in queryset.order_by("created_at", "position"):
            reason = tool_call_decide_in_admin(
                request, call, approved=approved, reason=ACTION_REASON
            )
            if reason is None:
                decided += 1
            else:
                skipped.append(reason)
        verb = "approved" if approved else "rejected"
        self.message_user(request, f"{decided} tool call(s) {verb}.")
        if skipped:
            shown = "; ".join(skipped[:SKIPS_SHOWN])
            more = f"; and {len(skipped) - SKIPS_SHOWN} more" if len(skipped) > SKIPS_SHOWN else ""
            self.message_user(request, f"{len(skipped)} skipped: {shown}{more}.", messages.WARNING)

    @admin.action(description="Approve selected")
    def approve(self, request: HttpRequest, queryset: QuerySet[ToolCall]) -> None:
        self._decide(request, queryset, approved=True)

    @admin.action(description="Reject selected")
    def reject(self, request: HttpRequest, queryset: QuerySet[ToolCall]) -> None:
        self._decide(request, queryset, approved=False)


@admin.register(TranscriptEntry)
class TranscriptEntryAdmin(AuditedAdminMixin, admin.ModelAdmin[TranscriptEntry]):
    list_display = ("context", "position", "role", "task", "summarized", "created_at")
    list_filter = ("role", "summarized")
    list_select_related = ("context", "task")
    readonly_fields = [f.name for f in TranscriptEntry._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(LLMCall)
class LLMCallAdmin(AuditedAdminMixin, admin.ModelAdmin[LLMCall]):
    """Every model request with its tokens, cost and outcome."""

    list_display = (
        "created_at",
        "model",
        "purpose",
        "outcome",
        "prompt_tokens",
        "completion_tokens",
        "cost_usd",
        "latency_ms",
        "task",
    )
    list_filter = ("model", "outcome", "purpose")
    list_select_related = ("task",)
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in LLMCall._meta.fields]

    def get_queryset(self, request: HttpRequest) -> QuerySet[LLMCall]:
        return llm_calls_visible_to(user=admin_user(request))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


# --- Tool sources and versions (tools/sources/) ----------------------------------------------
# Read-mostly: sources are registered through /api/tools/ (their tools are listed first);
# here admins and operators refresh, enable and disable sources and move versions along
# their lifecycle, through the same services (and audit rows) as the API.


def _tools_manager(request: HttpRequest) -> None:
    if not manages_tools(admin_user(request)):
        raise PermissionDenied("Only admins and operators manage tools.")


class _ReadOnly:
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ToolVersionInline(admin.TabularInline[ToolVersion, ToolSource]):
    model = ToolVersion
    fields = ("offered_name", "number", "state", "published_at", "published_by")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ToolSource)
class ToolSourceAdmin(_ReadOnly, AuditedAdminMixin, admin.ModelAdmin[ToolSource]):
    list_display = ("name", "kind", "enabled", "refreshed_at", "error", "created_by", "created_at")
    list_filter = ("kind", "enabled")
    search_fields = ("name", "url", "command")
    readonly_fields = (
        "id",
        "name",
        "kind",
        "url",
        "command",
        "args",
        "headers_set",
        "enabled",
        "refreshed_at",
        "error",
        "created_by",
        "created_at",
        "updated_at",
    )
    fields = readonly_fields
    inlines = [ToolVersionInline]
    actions = ["refresh", "enable", "disable"]

    @admin.display(boolean=True, description="headers set")
    def headers_set(self, source: ToolSource) -> bool:
        return source.headers_set

    @admin.action(description="List the server's tools again now")
    def refresh(self, request: HttpRequest, queryset: QuerySet[ToolSource]) -> None:
        _tools_manager(request)
        for source in queryset.order_by("name"):
            outcome = tool_source_refresh(
                source=source, actor=admin_user(request), auth_method="session"
            )
            level = messages.WARNING if outcome.result == "failed" else messages.INFO
            detail = f": {outcome.source.error}" if outcome.result == "failed" else ""
            self.message_user(request, f"{source.name}: {outcome.result}{detail}", level)

    def _enable(self, request: HttpRequest, queryset: QuerySet[ToolSource], on: bool) -> None:
        _tools_manager(request)
        for source in queryset.order_by("name"):
            tool_source_update(
                source=source, actor=admin_user(request), enabled=on, auth_method="session"
            )
        done = "enabled" if on else "disabled"
        self.message_user(request, f"{queryset.count()} source(s) {done}.")

    @admin.action(description="Enable selected")
    def enable(self, request: HttpRequest, queryset: QuerySet[ToolSource]) -> None:
        self._enable(request, queryset, True)

    @admin.action(description="Disable selected")
    def disable(self, request: HttpRequest, queryset: QuerySet[ToolSource]) -> None:
        self._enable(request, queryset, False)


@admin.register(ToolVersion)
class ToolVersionAdmin(_ReadOnly, AuditedAdminMixin, admin.ModelAdmin[ToolVersion]):
    list_display = ("offered_name", "number", "state", "source", "published_at", "published_by")
    list_filter = ("state", "source")
    search_fields = ("offered_name", "description")
    readonly_fields = (
        "source",
        "tool_name",
        "offered_name",
        "number",
        "state",
        "description",
        "schema",
        "annotations",
        "published_at",
        "published_by",
        "created_at",
    )
    fields = readonly_fields
    actions = ["publish", "deprecate", "retire"]

    @admin.display(description="input schema")
    def schema(self, version: ToolVersion) -> str:
        return json_summary(version.input_schema, limit=4000)

    def _move(self, request: HttpRequest, queryset: QuerySet[ToolVersion], state: str) -> None:
        _tools_manager(request)
        for version in queryset.order_by("offered_name", "number"):
            try:
                tool_version_state_set(
                    version=version, state=state, actor=admin_user(request), auth_method="session"
                )
            except ApplicationError as exc:
                self.message_user(request, f"{version}: {exc.message}", messages.WARNING)
            else:
                self.message_user(request, f"{version.offered_name} v{version.number}: {state}.")

    @admin.action(description="Publish (make active)")
    def publish(self, request: HttpRequest, queryset: QuerySet[ToolVersion]) -> None:
        self._move(request, queryset, VersionState.ACTIVE)

    @admin.action(description="Deprecate")
    def deprecate(self, request: HttpRequest, queryset: QuerySet[ToolVersion]) -> None:
        self._move(request, queryset, VersionState.DEPRECATED)

    @admin.action(description="Retire (calls are refused)")
    def retire(self, request: HttpRequest, queryset: QuerySet[ToolVersion]) -> None:
        self._move(request, queryset, VersionState.RETIRED)


@admin.register(ToolPolicy)
class ToolPolicyAdmin(_ReadOnly, AuditedAdminMixin, admin.ModelAdmin[ToolPolicy]):
    list_display = ("name", "enabled", "approval", "pinned_version", "updated_by", "updated_at")
    readonly_fields = list_display
    fields = list_display
