from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.models import User
from audit.admin_mixins import AuditedAdminMixin
from tools.models import LLMCall, ToolCall, ToolCallStatus, TranscriptEntry
from tools.services import tool_calls_decide_as_admin


@admin.register(ToolCall)
class ToolCallAdmin(AuditedAdminMixin, admin.ModelAdmin[ToolCall]):
    """Tool calls with their arguments and results; pending ones can be decided here."""

    list_display = ("id", "tool", "status", "decision", "requester", "task", "created_at")
    list_filter = ("status", "decision", "tool")
    # idempotency_key: find the call behind a request a downstream reports.
    search_fields = ("id", "idempotency_key", "tool", "task__id", "requester__username")
    readonly_fields = [f.name for f in ToolCall._meta.fields]
    actions = ["approve", "reject"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def _decide(self, request: HttpRequest, queryset: QuerySet[ToolCall], approved: bool) -> None:
        user = request.user
        assert isinstance(user, User)
        pending = list(queryset.filter(status=ToolCallStatus.AWAITING_APPROVAL, decision=""))
        decided = tool_calls_decide_as_admin(
            user=user, calls=pending, approved=approved, reason="decided in the admin"
        )
        verb = "approved" if approved else "rejected"
        self.message_user(request, f"{decided} tool call(s) {verb}.")

    @admin.action(description="Approve the selected pending tool calls")
    def approve(self, request: HttpRequest, queryset: QuerySet[ToolCall]) -> None:
        self._decide(request, queryset, approved=True)

    @admin.action(description="Reject the selected pending tool calls")
    def reject(self, request: HttpRequest, queryset: QuerySet[ToolCall]) -> None:
        self._decide(request, queryset, approved=False)


@admin.register(TranscriptEntry)
class TranscriptEntryAdmin(AuditedAdminMixin, admin.ModelAdmin[TranscriptEntry]):
    list_display = ("context", "position", "role", "task", "summarized", "created_at")
    list_filter = ("role", "summarized")
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
    readonly_fields = [f.name for f in LLMCall._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
