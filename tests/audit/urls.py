"""The project's URLs plus /api/audit/ (until config.urls mounts it) and a test admin site.

The test admin site registers users with two extra actions and a change view that fails after
Django logged the change, to show what the audit mixin does with actions and rollbacks.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import include, path

from accounts.models import User
from audit.admin_mixins import AuditedAdminMixin
from audit.urls import api_urlpatterns
from config.urls import urlpatterns as project_urlpatterns

site = admin.AdminSite(name="audit_test_admin")


class BrokenAfterLogging(Exception):
    """Raised by the test admin after the change and its log rows were written."""


@admin.register(User, site=site)
class TestUserAdmin(AuditedAdminMixin, UserAdmin):  # type: ignore[type-arg]
    actions = ["deactivate", "explode"]

    @admin.action(description="Deactivate the selected users")
    def deactivate(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        queryset.update(is_active=False)

    @admin.action(description="Fail")
    def explode(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        raise BrokenAfterLogging("the action failed")

    def response_change(self, request: HttpRequest, obj: User) -> HttpResponse:
        if obj.first_name == "explode":
            raise BrokenAfterLogging("the change view failed after log_change")
        return super().response_change(request, obj)


urlpatterns = [
    path("api/", include(api_urlpatterns)),
    path("test-admin/", site.urls),
    *project_urlpatterns,
]
