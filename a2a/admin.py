from django.contrib import admin

from a2a.models import (
    Artifact,
    Context,
    DeliveryStatus,
    Message,
    PushConfig,
    PushDelivery,
    Task,
    TaskEvent,
)
from a2a.services.push import push_deliveries_retry
from audit.admin_mixins import AuditedAdminMixin


class ReadOnlyInline(admin.TabularInline):  # type: ignore[type-arg]
    """A task's history, shown and never edited (non-editable fields cannot be form fields)."""

    extra = 0
    can_delete = False

    def get_readonly_fields(self, request, obj=None):  # type: ignore[no-untyped-def]
        return self.fields

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


class MessageInline(ReadOnlyInline):
    model = Message
    fields = ("position", "role", "message_id", "parts", "created_at")
    ordering = ("position",)


class ArtifactInline(ReadOnlyInline):
    model = Artifact
    fields = ("artifact_id", "name", "parts", "complete", "updated_at")


class TaskEventInline(ReadOnlyInline):
    model = TaskEvent
    fields = ("seq", "kind", "state", "payload", "created_at")
    ordering = ("seq",)


@admin.register(Task)
class TaskAdmin(AuditedAdminMixin, admin.ModelAdmin[Task]):
    """Tasks are changed only through the A2A services; the admin shows them."""

    list_display = ("id", "owner", "state", "agent", "status_timestamp", "last_seq")
    list_filter = ("state", "agent")
    search_fields = ("id", "owner__username", "context__key")
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in Task._meta.fields]
    inlines = [MessageInline, ArtifactInline, TaskEventInline]

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False


@admin.register(Context)
class ContextAdmin(AuditedAdminMixin, admin.ModelAdmin[Context]):
    list_display = ("key", "owner", "created_at")
    search_fields = ("key", "owner__username")
    readonly_fields = ("id", "owner", "key", "created_at", "updated_at")


@admin.register(PushConfig)
class PushConfigAdmin(AuditedAdminMixin, admin.ModelAdmin[PushConfig]):
    """Webhooks are created over A2A; the admin shows them (credentials stay hidden)."""

    list_display = ("config_id", "task", "owner", "url", "created_at")
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
    search_fields = ("url", "task__id")
    readonly_fields = [f.name for f in PushDelivery._meta.fields]
    actions = ["retry"]

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False

    @admin.action(description="Retry the selected dead-lettered deliveries")
    def retry(self, request, queryset):  # type: ignore[no-untyped-def]
        count = push_deliveries_retry(deliveries=list(queryset.filter(status=DeliveryStatus.DEAD)))
        self.message_user(request, f"{count} deliveries queued again.")
