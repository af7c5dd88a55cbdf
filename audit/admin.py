from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from audit.access import audit_reader_allowed
from audit.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin[AuditEvent]):
    """The audit log, read-only: no one adds, changes or deletes events here.

    Shown to admins and operators who also hold ``audit.view_auditevent`` (superusers do).
    """

    list_display = (
        "created_at",
        "action",
        "outcome",
        "actor_username",
        "auth_method",
        "target_type",
        "target_id",
        "client_ip",
        "request_id",
    )
    list_filter = ("action", "outcome", "auth_method")
    search_fields = ("actor_username", "target_id", "request_id")
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in AuditEvent._meta.fields]
    list_select_related = False
    show_full_result_count = False
    actions = None

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return audit_reader_allowed(request) and super().has_view_permission(request, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
