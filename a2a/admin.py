from django.contrib import admin

from a2a.models import Artifact, Context, Message, Task, TaskEvent


class ReadOnlyInline(admin.TabularInline):  # type: ignore[type-arg]
    extra = 0
    can_delete = False

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
class TaskAdmin(admin.ModelAdmin[Task]):
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
class ContextAdmin(admin.ModelAdmin[Context]):
    list_display = ("key", "owner", "created_at")
    search_fields = ("key", "owner__username")
    readonly_fields = ("id", "owner", "key", "created_at", "updated_at")
