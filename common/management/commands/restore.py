"""``manage.py restore``: load a backup made by ``manage.py backup`` into the configured database.

PostgreSQL: ``pg_restore --clean --if-exists --no-owner`` in one transaction. SQLite: the file is
copied into place while no server runs; a target another process has open is refused. Prints the
manifest's counts beside the restored database's so an operator sees they match.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError, connections

from common.management.commands.backup import (
    COUNTED,
    DB_ALIAS,
    PGDUMP_MAGIC,
    POSTGRES,
    SQLITE,
    SQLITE_MAGIC,
    database_counts,
    engine_kind,
    find_binary,
    manifest_path,
    postgres_env,
    run_client,
)


def backup_kind(path: Path) -> str:
    """Return the engine a backup file is for, from its first bytes."""
    with path.open("rb") as handle:
        head = handle.read(len(SQLITE_MAGIC))
    if head.startswith(PGDUMP_MAGIC):
        return POSTGRES
    if head == SQLITE_MAGIC:
        return SQLITE
    raise CommandError(f"{path} is neither a pg_dump custom-format file nor a SQLite database.")


def refuse_if_open(target: Path) -> None:
    """Raise CommandError when another connection holds the SQLite database ``target``.

    Leaving WAL mode needs the only connection, so it fails while a server has the file open.
    """
    connection = sqlite3.connect(target, timeout=0)
    try:
        mode = connection.execute("PRAGMA journal_mode=DELETE").fetchone()[0]
        connection.execute("BEGIN EXCLUSIVE")
        connection.rollback()
    except sqlite3.OperationalError as exc:
        raise CommandError(
            f"{target} is in use ({exc}); stop the server and workers before restoring."
        ) from None
    finally:
        connection.close()
    if str(mode).lower() != "delete":
        raise CommandError(f"{target} is in use; stop the server and workers before restoring.")


class Command(BaseCommand):
    help = "Restore a backup from `manage.py backup` into the configured database."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--input", required=True, help="Backup file to restore.")
        parser.add_argument(
            "--yes", action="store_true", help="Replace the database without asking."
        )

    def handle(self, *args: Any, input: str, yes: bool, **options: Any) -> None:
        path = Path(input).expanduser().resolve()
        if not path.is_file():
            raise CommandError(f"Backup file {path} does not exist.")
        kind = engine_kind()
        found = backup_kind(path)
        if found != kind:
            raise CommandError(f"{path} is a {found} backup but the configured database is {kind}.")
        manifest: dict[str, Any] | None = None
        if manifest_path(path).is_file():
            try:
                manifest = json.loads(manifest_path(path).read_text())
            except ValueError as exc:
                raise CommandError(f"Manifest {manifest_path(path)} is not JSON: {exc}") from None
            if manifest.get("engine") != kind:
                raise CommandError(f"The manifest says {manifest.get('engine')!r}, not {kind!r}.")
        else:
            self.stderr.write(f"No manifest at {manifest_path(path)}; counts not compared.")
        target = self._describe_target(kind)
        if not yes:
            if not sys.stdin.isatty():
                raise CommandError("Refusing to replace the database without --yes.")
            answer = input_prompt(f"Replace {target} with {path}? Type 'yes': ")
            if answer.strip() != "yes":
                raise CommandError("Restore cancelled.")
        connections.close_all()
        if kind == POSTGRES:
            self._postgres(path)
        else:
            self._sqlite(path, Path(target))
        connections.close_all()
        try:
            self._report(manifest)
        except DatabaseError as exc:
            raise CommandError(f"Cannot read the restored database: {exc}") from None

    def _describe_target(self, kind: str) -> str:
        settings = connections[DB_ALIAS].settings_dict
        if kind == SQLITE:
            name = str(settings["NAME"])
            if name == ":memory:":
                raise CommandError("Cannot restore into an in-memory SQLite database.")
            return name
        return f"PostgreSQL database {settings['NAME']} on {settings.get('HOST') or 'localhost'}"

    def _postgres(self, path: Path) -> None:
        pg_restore = find_binary("pg_restore")
        env = postgres_env()
        run_client(
            [
                pg_restore,
                "--clean",
                "--if-exists",
                "--no-owner",
                "--no-privileges",
                "--single-transaction",
                "--exit-on-error",
                f"--dbname={env.get('PGDATABASE', '')}",
                str(path),
            ],
            env,
        )

    def _sqlite(self, path: Path, target: Path) -> None:
        if not target.parent.is_dir():
            raise CommandError(f"Folder {target.parent} does not exist.")
        if target.exists():
            refuse_if_open(target)
        staged = target.with_name(target.name + ".restoring")
        try:
            shutil.copyfile(path, staged)
            check = sqlite3.connect(staged)
            try:
                result = check.execute("PRAGMA quick_check").fetchone()[0]
            finally:
                check.close()
            if result != "ok":
                raise CommandError(f"{path} fails SQLite's quick_check: {result}")
            if target.exists():
                kept = target.with_name(
                    f"{target.name}.pre-restore-{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
                )
                os.replace(target, kept)
                self.stdout.write(f"Kept the previous database as {kept}")
            for suffix in ("-wal", "-shm", "-journal"):
                Path(f"{target}{suffix}").unlink(missing_ok=True)
            os.replace(staged, target)
        finally:
            staged.unlink(missing_ok=True)
        self.stdout.write(f"Restored {path} into {target}")

    def _report(self, manifest: dict[str, Any] | None) -> None:
        restored = database_counts()
        expected = (manifest or {}).get("counts", {})
        self.stdout.write(f"{'':14} {'manifest':>10} {'restored':>10}")
        mismatched = []
        for label in COUNTED:
            want = expected.get(label)
            self.stdout.write(
                f"{label:14} {'-' if want is None else want:>10} {restored[label]:>10}"
            )
            if want is not None and want != restored[label]:
                mismatched.append(label)
        if manifest is not None:
            self.stdout.write(f"Backup taken at {manifest.get('created_at')}")
        if mismatched:
            raise CommandError(f"Restored counts differ from the manifest: {', '.join(mismatched)}")
        self.stdout.write(self.style.SUCCESS("Counts match." if manifest else "Restored."))


def input_prompt(question: str) -> str:
    """Ask on the terminal (a function so the prompt is one place)."""
    return input(question)
