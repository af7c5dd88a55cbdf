"""audit_record and its helpers write exactly the row they describe, in the caller's transaction."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction

from accounts.models import ApiKey, User
from accounts.services import api_key_create, api_key_used_audit
from audit.models import AuditEvent
from audit.services import audit_auth_failure, audit_record
from common.request_context import RequestInfo, bound

pytestmark = pytest.mark.django_db


def _row(event: AuditEvent) -> dict[str, object]:
    """The stored row (read back from the database) as a dict, minus id and time."""
    stored = AuditEvent.objects.get(pk=event.pk)
    return {
        "actor_id": stored.actor_id,
        "actor_username": stored.actor_username,
        "auth_method": stored.auth_method,
        "action": stored.action,
        "target_type": stored.target_type,
        "target_id": stored.target_id,
        "outcome": stored.outcome,
        "request_id": stored.request_id,
        "client_ip": stored.client_ip,
        "extra": stored.extra,
    }


def test_audit_record_writes_the_exact_row_inside_a_request(user):
    api_key, _ = api_key_create(user=user, name="ci")
    before = AuditEvent.objects.count()
    with bound(RequestInfo(request_id="req-42", client_ip="203.0.113.9")):
        event = audit_record(
            action="apikey.revoke",
            actor=user,
            target=api_key,
            outcome="denied",
            auth_method="jwt",
            extra={"why": "testing", "n": 3},
        )
    assert AuditEvent.objects.count() == before + 1
    assert _row(event) == {
        "actor_id": user.pk,
        "actor_username": "alice",
        "auth_method": "jwt",
        "action": "apikey.revoke",
        "target_type": "accounts.apikey",
        "target_id": str(api_key.pk),
        "outcome": "denied",
        "request_id": "req-42",
        "client_ip": "203.0.113.9",
        "extra": {"why": "testing", "n": 3},
    }
    stored = AuditEvent.objects.get(pk=event.pk)
    assert stored.created_at.tzinfo is not None
    assert stored.created_at.utcoffset() == timedelta(0)


def test_audit_record_outside_a_request_and_without_a_target():
    event = audit_record(action="task.state", target_type="a2a.task", target_id="t-1")
    assert _row(event) == {
        "actor_id": None,
        "actor_username": "",
        "auth_method": "",
        "action": "task.state",
        "target_type": "a2a.task",
        "target_id": "t-1",
        "outcome": "success",
        "request_id": "",
        "client_ip": None,
        "extra": {},
    }


def test_audit_record_refuses_unknown_actions_and_outcomes():
    with pytest.raises(ValueError, match=r"task\.explode"):
        audit_record(action="task.explode")
    with pytest.raises(ValueError, match="maybe"):
        audit_record(action="task.create", outcome="maybe")
    assert not AuditEvent.objects.exists()


def test_credentials_in_extra_are_redacted(user):
    event = audit_record(
        action="auth.login",
        actor=user,
        extra={
            "password": "hunter2",
            "nested": {"Token": "abc", "keep": "yes"},
            "items": [{"refresh": "r"}],
        },
    )
    assert AuditEvent.objects.get(pk=event.pk).extra == {
        "password": "[redacted]",
        "nested": {"Token": "[redacted]", "keep": "yes"},
        "items": [{"refresh": "[redacted]"}],
    }


def test_actor_username_is_kept_when_the_user_is_deleted(user):
    event = audit_record(action="auth.login", actor=user, auth_method="jwt")
    user.delete()
    stored = AuditEvent.objects.get(pk=event.pk)
    assert (stored.actor_id, stored.actor_username) == (None, "alice")


def test_audit_auth_failure_row(user):
    with bound(RequestInfo(request_id="req-f", client_ip="2001:db8::1")):
        event = audit_auth_failure(
            method="api_key", reason="Invalid credentials.", hint="wcp_abcdef…", user=user
        )
    assert _row(event) == {
        "actor_id": user.pk,
        "actor_username": "alice",
        "auth_method": "api_key",
        "action": "auth.failure",
        "target_type": "",
        "target_id": "",
        "outcome": "failure",
        "request_id": "req-f",
        "client_ip": "2001:db8::1",
        "extra": {"reason": "Invalid credentials.", "hint": "wcp_abcdef…"},
    }


def test_audit_key_used_row(user):
    api_key, key = api_key_create(user=user, name="deploy")
    event = api_key_used_audit(api_key=api_key)
    assert _row(event) == {
        "actor_id": user.pk,
        "actor_username": "alice",
        "auth_method": "api_key",
        "action": "auth.key_used",
        "target_type": "accounts.apikey",
        "target_id": str(api_key.pk),
        "outcome": "success",
        "request_id": "",
        "client_ip": None,
        "extra": {"prefix": api_key.prefix, "name": "deploy"},
    }
    assert key not in str(AuditEvent.objects.get(pk=event.pk).extra)


def test_a_rolled_back_change_leaves_no_audit_row(user):
    class Boom(Exception):
        pass

    def create_then_fail() -> None:
        with transaction.atomic():
            api_key = ApiKey.objects.create(
                user=user, name="gone", prefix="wcp_x", key_hash="0" * 64
            )
            audit_record(action="apikey.create", actor=user, target=api_key)
            assert AuditEvent.objects.filter(action="apikey.create").count() == 1
            raise Boom

    with pytest.raises(Boom):
        create_then_fail()
    assert not AuditEvent.objects.filter(action="apikey.create").exists()
    assert not ApiKey.objects.filter(name="gone").exists()


def test_a_committed_change_keeps_its_row(user):
    with transaction.atomic():
        audit_record(action="permission.grant", actor=user, target=user, extra={"perm": "view"})
    [event] = AuditEvent.objects.filter(action="permission.grant")
    assert (event.target_type, event.target_id) == ("accounts.user", str(user.pk))


def test_anonymous_actor_is_recorded_as_nobody():
    from django.contrib.auth.models import AnonymousUser

    event = audit_record(action="auth.failure", outcome="failure", actor=AnonymousUser())  # type: ignore[arg-type]
    assert (event.actor_id, event.actor_username) == (None, "")
    assert User.objects.count() == 0
