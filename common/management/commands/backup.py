"""``manage.py backup``: a consistent copy of the database plus a JSON manifest beside it.

PostgreSQL: ``pg_dump --format=custom`` inside a REPEATABLE READ snapshot that the manifest's
counts are read from too, so they describe exactly what the dump holds. SQLite: the online
backup API, which copies a consistent snapshot while the server keeps writing (WAL mode).
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import sqlite3
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError, connections, transaction

DB_ALIAS = "default"
POSTGRES = "postgresql"
SQLITE = "sqlite"
# What the manifest counts, by the name it reports.
COUNTED = {
    "tasks": "a2a.Task",
    "messages": "a2a.Message",
    "task_events": "a2a.TaskEvent",
    "artifacts": "a2a.Artifact",
    "audit_events": "audit.AuditEvent",
}
SUBPROCESS_TIMEOUT = 6 * 3600
SQLITE_MAGIC = b"SQLite format 3\x00"
PGDUMP_MAGIC = b"PGDMP"


def engine_kind() -> str:
    """Return ``postgresql`` or ``sqlite`` for the default database, or raise CommandError."""
    connection = connections[DB_ALIAS]
    if connection.vendor == "postgresql":
        return POSTGRES
    if connection.vendor == "sqlite":
        return SQLITE
    engine = connection.settings_dict["ENGINE"]
    raise CommandError(f"Unsupported database engine {engine!r}: only PostgreSQL and SQLite.")


def manifest_path(path: Path) -> Path:
    """Return where the manifest of the backup at ``path`` lives."""
    return path.with_name(path.name + ".manifest.json")


def find_binary(name: str) -> str:
    """Find a PostgreSQL client on PATH or under /usr/lib/postgresql/*/bin (newest first)."""
    found = shutil.which(name)
    if found:
        return found

    def version(candidate: str) -> int:
        part = Path(candidate).parent.parent.name
        return int(part) if part.isdigit() else 0

    for candidate in sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=version)[::-1]:
        if os.access(candidate, os.X_OK):
            return candidate
    raise CommandError(
        f"{name} not found on PATH or under /usr/lib/postgresql/*/bin; "
        "install the PostgreSQL client tools (postgresql-client)."
    )


def postgres_env() -> dict[str, str]:
    """Return the environment for pg_dump/pg_restore: connection in PG* variables.

    The password goes through PGPASSWORD, never on a command line other users can read.
    """
    settings = connections[DB_ALIAS].settings_dict
    env = dict(os.environ)
    options = settings.get("OPTIONS") or {}
    values = {
        "PGHOST": settings.get("HOST") or "",
        "PGPORT": str(settings.get("PORT") or ""),
        "PGUSER": settings.get("USER") or "",
        "PGPASSWORD": settings.get("PASSWORD") or "",
        "PGDATABASE": settings.get("NAME") or "",
        "PGSSLMODE": str(options.get("sslmode") or ""),
        "PGCONNECT_TIMEOUT": str(options.get("connect_timeout") or ""),
    }
    for key, value in values.items():
        if value:
            env[key] = value
        else:
            env.pop(key, None)
    return env


def run_client(command: list[str], env: dict[str, str]) -> None:
    """Run pg_dump/pg_restore bounded in time; raise CommandError with its stderr on failure."""
    try:
        result = subprocess.run(  # noqa: S603 - our own argv, no shell
            command,
            env=env,
            capture_output=True,
            text=True,
            timeout=SUBPROCESS_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise CommandError(f"{Path(command[0]).name} timed out after {exc.timeout}s") from None
    if result.returncode != 0:
        raise CommandError(
            f"{Path(command[0]).name} failed (exit {result.returncode}):\n{result.stderr.strip()}"
        )


def read_state(cursor: Any, quote: Any) -> tuple[dict[str, int], dict[str, list[str]]]:
    """Return (counts, applied migrations per app) read through a DB-API cursor."""
    counts: dict[str, int] = {}
    for label, model_name in COUNTED.items():
        table = apps.get_model(model_name)._meta.db_table
        cursor.execute(f"SELECT COUNT(*) FROM {quote(table)}")  # noqa: S608 - table from a model
        counts[label] = int(cursor.fetchone()[0])
    cursor.execute("SELECT app, name FROM django_migrations ORDER BY app, id")
    migrations: dict[str, list[str]] = {}
    for app, name in cursor.fetchall():
        migrations.setdefault(app, []).append(name)
    return counts, migrations


def sqlite_quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def database_counts() -> dict[str, int]:
    """Return the manifest counts of the configured database, through Django's connection."""
    connection = connections[DB_ALIAS]
    with connection.cursor() as cursor:
        counts, _ = read_state(cursor, connection.ops.quote_name)
    return counts


class Command(BaseCommand):
    help = "Back up the database (pg_dump or SQLite online backup) and write a JSON manifest."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--output", required=True, help="Path of the backup file to write.")

    def handle(self, *args: Any, output: str, **options: Any) -> None:
        path = Path(output).expanduser().resolve()
        if not path.parent.is_dir():
            raise CommandError(f"Folder {path.parent} does not exist.")
        if path.is_dir():
            raise CommandError(f"{path} is a folder; give a file path.")
        kind = engine_kind()
        partial = path.with_name(path.name + ".partial")
        try:
            if kind == POSTGRES:
                counts, migrations = self._postgres(partial)
            else:
                counts, migrations = self._sqlite(partial)
            os.replace(partial, path)
        except DatabaseError as exc:
            raise CommandError(f"Cannot read the database: {exc}") from None
        finally:
            partial.unlink(missing_ok=True)
        manifest = {
            "format": 1,
            "engine": kind,
            "file": path.name,
            "size": path.stat().st_size,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "counts": counts,
            "migrations": migrations,
        }
        manifest_path(path).write_text(json.dumps(manifest, indent=2) + "\n")
        self.stdout.write(f"Wrote {path} ({kind}, {manifest['size']} bytes)")
        self.stdout.write(f"Wrote {manifest_path(path)}")
        for label, count in counts.items():
            self.stdout.write(f"  {label}: {count}")

    def _postgres(self, partial: Path) -> tuple[dict[str, int], dict[str, list[str]]]:
        pg_dump = find_binary("pg_dump")
        connection = connections[DB_ALIAS]
        # pg_dump joins this transaction's snapshot, so the counts match the dump exactly.
        with transaction.atomic(using=DB_ALIAS), connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            cursor.execute("SELECT pg_export_snapshot()")
            snapshot = cursor.fetchone()[0]
            counts, migrations = read_state(cursor, connection.ops.quote_name)
            run_client(
                [pg_dump, "--format=custom", f"--snapshot={snapshot}", f"--file={partial}"],
                postgres_env(),
            )
        return counts, migrations

    def _sqlite(self, partial: Path) -> tuple[dict[str, int], dict[str, list[str]]]:
        name = str(connections[DB_ALIAS].settings_dict["NAME"])
        if name == ":memory:" or not Path(name).is_file():
            raise CommandError(f"SQLite database {name} does not exist.")
        options = connections[DB_ALIAS].settings_dict.get("OPTIONS") or {}
        source = sqlite3.connect(name, timeout=float(options.get("timeout", 20)))
        target = sqlite3.connect(partial)
        try:
            # One step (pages=-1): a single read transaction, so a consistent snapshot.
            source.backup(target)
            # A self-contained file: no -wal beside it.
            target.execute("PRAGMA journal_mode=DELETE")
            return read_state(target.cursor(), sqlite_quote)
        except sqlite3.Error as exc:
            raise CommandError(f"SQLite backup failed: {exc}") from None
        finally:
            target.close()
            source.close()
