"""A database trigger that refuses UPDATE of audit events (SQLite and PostgreSQL).

The application already refuses to change audit rows; the trigger makes the database refuse
it too, whoever connects. The one update it lets through is the database's own
``ON DELETE SET NULL`` of ``actor`` when a user is deleted (every other column unchanged).
DELETE stays possible: retention purges old rows.

On SQLite, a later migration that rebuilds ``audit_auditevent`` (most AlterField operations)
drops the trigger with the old table, and a new column is not compared by it: such a
migration must run ``install`` again. ``tests/audit/test_append_only.py`` fails until it does.
"""

from django.db import migrations

TRIGGER = "audit_event_append_only"
FUNCTION = "audit_event_refuse_update"
MESSAGE = "audit events are append-only"

# Every column except actor_id, which may only go from a user to NULL.
SQLITE_COLUMNS = (
    "id",
    "created_at",
    "actor_username",
    "auth_method",
    "action",
    "target_type",
    "target_id",
    "outcome",
    "request_id",
    "client_ip",
    "extra",
)

SQLITE_CREATE = f"""
CREATE TRIGGER {TRIGGER}
BEFORE UPDATE ON audit_auditevent
FOR EACH ROW
WHEN NEW.actor_id IS NOT NULL
    OR {" OR ".join(f"NEW.{column} IS NOT OLD.{column}" for column in SQLITE_COLUMNS)}
BEGIN
    SELECT RAISE(ABORT, '{MESSAGE}');
END
"""
SQLITE_DROP = f"DROP TRIGGER IF EXISTS {TRIGGER}"

# The row minus actor_id, compared as JSON: columns added later are covered without a change.
POSTGRESQL_CREATE = (
    f"""
CREATE OR REPLACE FUNCTION {FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.actor_id IS NULL AND (to_jsonb(NEW) - 'actor_id') = (to_jsonb(OLD) - 'actor_id') THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'restrict_violation';
END;
$$
""",
    f"""
CREATE TRIGGER {TRIGGER}
BEFORE UPDATE ON audit_auditevent
FOR EACH ROW EXECUTE FUNCTION {FUNCTION}()
""",
)
POSTGRESQL_DROP = (
    f"DROP TRIGGER IF EXISTS {TRIGGER} ON audit_auditevent",
    f"DROP FUNCTION IF EXISTS {FUNCTION}()",
)


def _run(schema_editor, statements):
    for statement in statements:
        schema_editor.execute(statement, params=None)


def install(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "sqlite":
        _run(schema_editor, (SQLITE_CREATE,))
    elif vendor == "postgresql":
        _run(schema_editor, POSTGRESQL_CREATE)
    # Other databases: the application's refusal is the only guard (not a supported setup).


def uninstall(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "sqlite":
        _run(schema_editor, (SQLITE_DROP,))
    elif vendor == "postgresql":
        _run(schema_editor, POSTGRESQL_DROP)


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(install, uninstall, elidable=False),
    ]
