"""Audit events cannot be changed or deleted: not by the ORM, not by raw SQL (the trigger)."""

from __future__ import annotations

import importlib
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from audit.models import AppendOnlyError, AuditEvent
from audit.services import audit_record

pytestmark = pytest.mark.django_db

trigger_migration = importlib.import_module("audit.migrations.0002_append_only_trigger")


@pytest.fixture
def event(user):
    return audit_record(
        action="task.create", actor=user, target_type="a2a.task", target_id="t-1", extra={"a": 1}
    )


def _unchanged(event: AuditEvent) -> None:
    stored = AuditEvent.objects.get(pk=event.pk)
    assert (stored.action, stored.target_id, stored.extra, stored.actor_id) == (
        "task.create",
        "t-1",
        {"a": 1},
        event.actor_id,
    )


def test_saving_an_existing_event_is_refused(event):
    event.action = "task.cancel"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.save(update_fields=["action"])
    fresh = AuditEvent.objects.get(pk=event.pk)
    with pytest.raises(AppendOnlyError):
        fresh.save()
    _unchanged(event)


def test_queryset_update_and_delete_are_refused(event):
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).update(action="task.cancel")
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.all().delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.bulk_update([event], ["action"])
    _unchanged(event)


def test_deleting_an_event_is_refused(event):
    with pytest.raises(AppendOnlyError):
        event.delete()
    _unchanged(event)


# Every stored column but the actor, with a value that differs from the fixture's.
NEW_VALUES: dict[str, int | str] = {
    "id": 999_999,
    "created_at": "2000-01-01 00:00:00",
    "actor_username": "mallory",
    "auth_method": "jwt",
    "action": "task.cancel",
    "target_type": "a2a.context",
    "target_id": "t-2",
    "outcome": "failure",
    "request_id": "forged",
    "client_ip": "10.0.0.1",
    "extra": "{}",
}


def test_the_trigger_covers_every_column():
    """A migration adding a column must extend the trigger (and this table)."""
    columns = {field.column for field in AuditEvent._meta.concrete_fields}
    assert columns - {"actor_id"} == set(NEW_VALUES) == set(trigger_migration.SQLITE_COLUMNS)


@pytest.mark.parametrize("column", sorted(NEW_VALUES))
def test_raw_sql_update_of_any_column_is_refused_by_the_database(event, column):
    with (
        pytest.raises(IntegrityError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(
            f"UPDATE audit_auditevent SET {column} = %s WHERE id = %s",
            [NEW_VALUES[column], event.pk],
        )
    _unchanged(event)


def test_raw_sql_cannot_point_an_event_at_another_user(event, other_user):
    with (
        pytest.raises(IntegrityError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(
            "UPDATE audit_auditevent SET actor_id = %s WHERE id = %s", [other_user.pk, event.pk]
        )
    _unchanged(event)


def test_the_database_may_clear_the_actor_of_a_deleted_user(event, user):
    user.delete()
    stored = AuditEvent.objects.get(pk=event.pk)
    assert (stored.actor_id, stored.actor_username, stored.action) == (None, "alice", "task.create")


def test_purge_before_is_the_only_delete_path(event):
    # DELETE is not refused by the database: retention needs it (only purge_before uses it).
    audit_record(action="task.state")
    assert AuditEvent.objects.purge_before(timezone.now() + timedelta(seconds=1)) == 2
    assert not AuditEvent.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_trigger_migration_is_reversible(event):
    """Unapplying 0002 drops the trigger (updates pass); applying it again refuses them."""
    try:
        call_command("migrate", "audit", "0001", verbosity=0)
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE audit_auditevent SET outcome = 'denied' WHERE id = %s", [event.pk]
            )
        assert AuditEvent.objects.get(pk=event.pk).outcome == "denied"
    finally:
        call_command("migrate", "audit", verbosity=0)
    with (
        pytest.raises(IntegrityError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("UPDATE audit_auditevent SET outcome = 'success' WHERE id = %s", [event.pk])
    assert AuditEvent.objects.get(pk=event.pk).outcome == "denied"
