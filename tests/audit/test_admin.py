"""Admin changes are audited through the real admin views; the audit log's admin is read-only."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission
from django.test import Client

from accounts.models import ApiKey, User
from accounts.services import api_key_create, user_ensure
from audit.models import AuditEvent
from audit.services import audit_record

pytestmark = pytest.mark.django_db

RID = {"X-Request-ID": "req-admin-1"}


def _rows(action: str) -> list[dict[str, object]]:
    return [
        {
            "actor_id": e.actor_id,
            "actor_username": e.actor_username,
            "auth_method": e.auth_method,
            "target_type": e.target_type,
            "target_id": e.target_id,
            "outcome": e.outcome,
            "request_id": e.request_id,
            "client_ip": e.client_ip,
            "extra": e.extra,
        }
        for e in AuditEvent.objects.filter(action=action).order_by("id")
    ]


def _expected(
    superuser: User, target_type: str, target_id: object, **extra: object
) -> dict[str, object]:
    return {
        "actor_id": superuser.pk,
        "actor_username": "root",
        "auth_method": "session",
        "target_type": target_type,
        "target_id": str(target_id),
        "outcome": "success",
        "request_id": "req-admin-1",
        "client_ip": "127.0.0.1",
        "extra": extra,
    }


def test_admin_add_writes_the_exact_row(admin_client, superuser):
    response = admin_client.post(
        "/admin/accounts/user/add/",
        {
            "username": "carol",
            "usable_password": "true",
            "password1": "a-Long-passw0rd-for-carol",
            "password2": "a-Long-passw0rd-for-carol",
        },
        headers=RID,
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    carol = User.objects.get(username="carol")
    assert _rows("admin.add") == [
        _expected(superuser, "accounts.user", carol.pk, message=[{"added": {}}], repr="carol")
    ]
    assert LogEntry.objects.get().object_id == str(carol.pk)
    assert "a-Long-passw0rd-for-carol" not in str(AuditEvent.objects.values_list("extra"))


def test_admin_change_writes_the_exact_row(admin_client, superuser):
    carol = user_ensure(username="carol")
    carol.date_joined = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    carol.save()
    response = admin_client.post(
        f"/admin/accounts/user/{carol.pk}/change/",
        {
            "username": "carol",
            "first_name": "Carol",
            "last_name": "",
            "email": "",
            "is_active": "on",
            "date_joined_0": "2026-01-02",
            "date_joined_1": "03:04:05",
            # The form sends these hidden initial values too (the default is a callable).
            "initial-date_joined_0": "2026-01-02",
            "initial-date_joined_1": "03:04:05",
            "last_login_0": "",
            "last_login_1": "",
        },
        headers=RID,
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    assert User.objects.get(pk=carol.pk).first_name == "Carol"
    assert _rows("admin.change") == [
        _expected(
            superuser,
            "accounts.user",
            carol.pk,
            message=[{"changed": {"fields": ["First name"]}}],
            repr="carol",
        )
    ]


def test_admin_password_change_is_audited_without_the_password(admin_client, superuser):
    carol = user_ensure(username="carol")
    response = admin_client.post(
        f"/admin/accounts/user/{carol.pk}/password/",
        {
            "usable_password": "true",
            "password1": "Another-l0ng-password",
            "password2": "Another-l0ng-password",
        },
        headers=RID,
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    assert _rows("admin.change") == [
        _expected(
            superuser,
            "accounts.user",
            carol.pk,
            message=[{"changed": {"fields": ["password"]}}],
            repr="carol",
        )
    ]
    assert "Another-l0ng-password" not in str(AuditEvent.objects.values_list("extra"))


def test_admin_delete_writes_the_exact_row_and_keeps_earlier_rows(admin_client, superuser):
    carol = user_ensure(username="carol")
    earlier = audit_record(action="auth.login", actor=carol, auth_method="jwt")
    response = admin_client.post(
        f"/admin/accounts/user/{carol.pk}/delete/", {"post": "yes"}, headers=RID
    )
    assert response.status_code == 302
    assert not User.objects.filter(pk=carol.pk).exists()
    assert _rows("admin.delete") == [_expected(superuser, "accounts.user", carol.pk, repr="carol")]
    earlier.refresh_from_db()
    assert (earlier.actor_id, earlier.actor_username) == (None, "carol")


def test_delete_selected_action_writes_one_row_per_object(admin_client, superuser, user):
    keys = [api_key_create(user=user, name=f"k{i}")[0] for i in range(2)]
    response = admin_client.post(
        "/admin/accounts/apikey/",
        {"action": "delete_selected", "_selected_action": [str(k.pk) for k in keys], "post": "yes"},
        headers=RID,
    )
    assert response.status_code == 302
    assert not ApiKey.objects.exists()
    assert sorted(_rows("admin.delete"), key=lambda r: str(r["extra"])) == [
        _expected(superuser, "accounts.apikey", k.pk, repr=str(k)) for k in keys
    ]


@pytest.mark.urls("tests.audit.urls")
def test_a_custom_admin_action_is_audited(admin_client, superuser):
    carol = user_ensure(username="carol")
    response = admin_client.post(
        "/test-admin/accounts/user/",
        {"action": "deactivate", "_selected_action": [str(carol.pk)]},
        headers=RID,
    )
    assert response.status_code == 302
    assert User.objects.get(pk=carol.pk).is_active is False
    assert _rows("admin.change") == [
        _expected(
            superuser,
            "accounts.user",
            carol.pk,
            admin_action="deactivate",
            count=1,
            ids=[str(carol.pk)],
        )
    ]


@pytest.mark.urls("tests.audit.urls")
def test_a_failing_admin_action_is_audited_as_a_failure(superuser):
    client = Client(raise_request_exception=False)
    client.force_login(superuser)
    carol, dave = user_ensure(username="carol"), user_ensure(username="dave")
    response = client.post(
        "/test-admin/accounts/user/",
        {"action": "explode", "_selected_action": [str(carol.pk), str(dave.pk)]},
        headers=RID,
    )
    assert response.status_code == 500
    [row] = _rows("admin.change")
    assert row == {
        **_expected(superuser, "accounts.user", ""),
        "outcome": "failure",
        "extra": {
            "admin_action": "explode",
            "count": 2,
            "ids": [str(carol.pk), str(dave.pk)],  # the admin's ordering: by username
            "error": "BrokenAfterLogging",
        },
    }


@pytest.mark.urls("tests.audit.urls")
def test_an_admin_change_that_rolls_back_leaves_no_audit_row(superuser):
    client = Client(raise_request_exception=False)
    client.force_login(superuser)
    carol = user_ensure(username="carol")
    carol.date_joined = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    carol.save()
    response = client.post(
        f"/test-admin/accounts/user/{carol.pk}/change/",
        {
            "username": "carol",
            "first_name": "explode",
            "is_active": "on",
            "date_joined_0": "2026-01-02",
            "date_joined_1": "03:04:05",
        },
    )
    assert response.status_code == 500
    assert User.objects.get(pk=carol.pk).first_name == ""
    assert not LogEntry.objects.exists()
    assert not AuditEvent.objects.filter(action="admin.change").exists()


# --- the audit log in the admin -----------------------------------------------------------


@pytest.fixture
def event(user):
    return audit_record(action="task.create", actor=user, target_type="a2a.task", target_id="t1")


def test_superuser_reads_the_audit_log_in_the_admin(admin_client, event):
    listing = admin_client.get("/admin/audit/auditevent/")
    assert listing.status_code == 200
    assert "task.create" in listing.content.decode()
    detail = admin_client.get(f"/admin/audit/auditevent/{event.pk}/change/")
    assert detail.status_code == 200
    assert 'name="_save"' not in detail.content.decode()
    searched = admin_client.get("/admin/audit/auditevent/", {"q": "t1", "action": "task.create"})
    assert searched.status_code == 200
    assert searched.context["cl"].result_count == 1


def test_the_audit_log_admin_is_read_only(admin_client, event):
    before = list(AuditEvent.objects.values())
    assert admin_client.get("/admin/audit/auditevent/add/").status_code == 403
    assert admin_client.post("/admin/audit/auditevent/add/", {"action": "x"}).status_code == 403
    changed = admin_client.post(
        f"/admin/audit/auditevent/{event.pk}/change/", {"action": "task.cancel"}
    )
    assert changed.status_code == 403
    assert admin_client.get(f"/admin/audit/auditevent/{event.pk}/delete/").status_code == 403
    assert (
        admin_client.post(
            f"/admin/audit/auditevent/{event.pk}/delete/", {"post": "yes"}
        ).status_code
        == 403
    )
    bulk = admin_client.post(
        "/admin/audit/auditevent/",
        {"action": "delete_selected", "_selected_action": [str(event.pk)], "post": "yes"},
    )
    assert bulk.status_code == 200  # no actions on this page: the list is shown again
    assert list(AuditEvent.objects.values()) == before
    assert set(
        Permission.objects.filter(content_type__app_label="audit").values_list(
            "codename", flat=True
        )
    ) == {"view_auditevent"}


def _staff(username: str, role: str | None) -> Client:
    person = user_ensure(username=username, role=role)
    person.is_staff = True
    person.save()
    person.user_permissions.add(Permission.objects.get(codename="view_auditevent"))
    client = Client()
    client.force_login(person)
    return client


def test_staff_without_an_audit_role_cannot_read_it_in_the_admin(event):
    assert _staff("sam", None).get("/admin/audit/auditevent/").status_code == 403
    assert _staff("olga", "operator").get("/admin/audit/auditevent/").status_code == 200


def test_every_admin_page_still_loads_with_the_mixin(admin_client):
    from django.contrib import admin

    from audit.admin_mixins import AuditedAdminMixin

    for model, model_admin in admin.site._registry.items():
        opts = model._meta
        response = admin_client.get(f"/admin/{opts.app_label}/{opts.model_name}/")
        assert response.status_code == 200, opts.label
        if model is not AuditEvent and opts.app_label in {"a2a", "tools", "accounts"}:
            assert isinstance(model_admin, AuditedAdminMixin), opts.label
