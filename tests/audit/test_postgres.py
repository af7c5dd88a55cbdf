"""The append-only trigger on PostgreSQL: migrations applied to a real server on 127.0.0.1.

The rest of the suite runs on SQLite; this test starts PostgreSQL (initdb, pg_ctl), migrates
with ``DATABASE_URL`` pointing at it, and checks what the database itself refuses. It fails
rather than skips under ``CI=true`` when the PostgreSQL binaries are missing.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.postgres_server import PostgresServer, require_binaries

psycopg = pytest.importorskip("psycopg")

RECORD = """
import json
from accounts.models import User
from audit.services import audit_record
user = User.objects.create(username="pg-alice")
event = audit_record(action="task.create", actor=user, target=user, extra={"a": 1})
user.delete()
print(json.dumps({"id": event.pk}))
"""

OLD_EVENT = """
from datetime import timedelta
from django.utils import timezone
from audit.models import AuditEvent
AuditEvent(action="task.state", created_at=timezone.now() - timedelta(days=400)).save()
"""


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    require_binaries()
    workdir = Path(tempfile.mkdtemp(prefix="webcap-audit-pg-"))
    server = PostgresServer(workdir)
    try:
        server.start()
        server.manage("migrate", "--noinput", "-v", "0")
        yield server
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def _update(server: PostgresServer, sql: str, *params: object) -> None:
    with psycopg.connect(server.dsn(), autocommit=True) as conn:
        conn.execute(sql, params)


def _row(server: PostgresServer, event_id: int) -> tuple[object, ...]:
    with psycopg.connect(server.dsn()) as conn:
        row = conn.execute(
            "SELECT action, outcome, actor_id, actor_username, extra FROM audit_auditevent"
            " WHERE id = %s",
            (event_id,),
        ).fetchone()
    assert row is not None
    return tuple(row)


def test_postgresql_refuses_updates_and_the_migration_reverses(postgres):
    # Written by the application; deleting the user cleared actor through ON DELETE SET NULL
    # (Django's collector issues that UPDATE), which the trigger lets through.
    event_id = json.loads(postgres.manage("shell", "-c", RECORD).strip().splitlines()[-1])["id"]
    assert _row(postgres, event_id) == ("task.create", "success", None, "pg-alice", {"a": 1})

    for sql, params in [
        ("UPDATE audit_auditevent SET outcome = 'denied' WHERE id = %s", (event_id,)),
        ("UPDATE audit_auditevent SET extra = '{}'::jsonb WHERE id = %s", (event_id,)),
        ("UPDATE audit_auditevent SET created_at = now() WHERE id = %s", (event_id,)),
        ("UPDATE audit_auditevent SET actor_username = 'x' WHERE id = %s", (event_id,)),
    ]:
        with pytest.raises(psycopg.errors.RestrictViolation, match="append-only"):
            _update(postgres, sql, *params)
    assert _row(postgres, event_id) == ("task.create", "success", None, "pg-alice", {"a": 1})

    # Unapplying 0002 drops the trigger and its function; applying it again restores both.
    postgres.manage("migrate", "audit", "0001", "-v", "0")
    _update(postgres, "UPDATE audit_auditevent SET outcome = 'denied' WHERE id = %s", event_id)
    assert _row(postgres, event_id)[1] == "denied"
    postgres.manage("migrate", "audit", "-v", "0")
    with pytest.raises(psycopg.errors.RestrictViolation, match="append-only"):
        _update(postgres, "UPDATE audit_auditevent SET outcome = 'success' WHERE id = %s", event_id)

    # Retention deletes (AUDIT_RETENTION_DAYS is 365 by default); newer rows stay.
    postgres.manage("shell", "-c", OLD_EVENT)
    out = postgres.manage("audit_purge")
    assert out.startswith("Removed 1 audit events created before ")
    with psycopg.connect(postgres.dsn()) as conn:
        ids = conn.execute("SELECT id FROM audit_auditevent").fetchall()
    assert ids == [(event_id,)]
