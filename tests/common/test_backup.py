"""``manage.py backup`` and ``restore``: back up while a writer keeps going, restore, compare.

SQLite runs in-process against the test database (transactional, so a writer thread's commits
are real); PostgreSQL starts a throwaway server and restores into a second database. Restores
run ``manage.py`` in a subprocess with a clean environment, like an operator would.
"""

from __future__ import annotations

import io
import json
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from a2a.models import Task, TaskEvent
from common.management.commands.backup import find_binary
from tests.binaries import binaries_require
from tests.factories import make_user, send
from tests.live.server import run_manage, webcap_env
from tests.postgres_server import PostgresServer, require_binaries

ROOT = Path(__file__).resolve().parents[2]
LABELS = ("tasks", "messages", "task_events", "artifacts", "audit_events")


def _manage(tmp: Path, database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run manage.py with only DATABASE_URL and a private var folder set."""
    env = webcap_env(tmp / "var", DATABASE_URL=database_url)
    return run_manage(env, *args)


class Writer(threading.Thread):
    """Keep sending messages (one task each) until stopped; remember what committed."""

    def __init__(self, send_one: object) -> None:
        super().__init__(daemon=True)
        self.send_one = send_one
        self.stop = threading.Event()
        self.sent = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.stop.is_set() and self.sent < 500:
                self.send_one()  # type: ignore[operator]
                self.sent += 1
        except BaseException as exc:  # reported by the test
            self.error = exc
        finally:
            from django.db import connections

            connections.close_all()

    def finish(self) -> None:
        self.stop.set()
        self.join(timeout=60)
        assert not self.is_alive()
        assert self.error is None, self.error


def _events(cursor: Any, where: str = "") -> list[tuple[int, str, int]]:
    cursor.execute(f"SELECT id, task_id, seq FROM a2a_taskevent {where} ORDER BY id")
    return [(int(i), str(t).replace("-", ""), int(s)) for i, t, s in cursor.fetchall()]


def _one(conn: Any, sql: str) -> Any:
    row = conn.execute(sql).fetchone()
    assert row is not None
    return row[0]


def _counts_printed(stdout: str) -> dict[str, tuple[str, str]]:
    rows = {}
    for line in stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] in LABELS:
            rows[parts[0]] = (parts[1], parts[2])
    return rows


def _check_restored(
    restored: list[tuple[int, str, int]],
    source: list[tuple[int, str, int]],
    before: int,
    manifest: dict[str, object],
) -> None:
    counts = manifest["counts"]
    assert isinstance(counts, dict)
    assert len(restored) == counts["task_events"]
    # One writer commits in id order, so a consistent snapshot is a prefix of the source.
    top = restored[-1][0]
    assert restored == [row for row in source if row[0] <= top]
    assert len(restored) >= before
    by_task: dict[str, list[int]] = {}
    for _, task, seq in restored:
        by_task.setdefault(task, []).append(seq)
    assert all(seqs == list(range(1, len(seqs) + 1)) for seqs in by_task.values())
    assert len(by_task) == counts["tasks"]


@pytest.mark.django_db(transaction=True)
def test_sqlite_backup_during_writes_restores_into_a_fresh_database(tmp_path: Path) -> None:
    owner = make_user("backup-owner")
    for i in range(3):
        send(owner, f"before {i}")
    with connection.cursor() as cursor:
        before = len(_events(cursor))
    writer = Writer(lambda: send(owner, "during"))
    writer.start()
    try:
        while writer.sent < 3 and writer.is_alive():
            writer.stop.wait(0.01)
        call_command("backup", output=str(tmp_path / "webcap.sqlite3.bak"), stdout=io.StringIO())
        after_backup = writer.sent
        while writer.sent < after_backup + 2 and writer.is_alive():
            writer.stop.wait(0.01)
    finally:
        writer.finish()
    backup = tmp_path / "webcap.sqlite3.bak"
    manifest = json.loads((tmp_path / "webcap.sqlite3.bak.manifest.json").read_text())
    assert manifest["engine"] == "sqlite"
    assert set(manifest["counts"]) == set(LABELS)
    assert "0001_initial" in manifest["migrations"]["a2a"]
    with connection.cursor() as cursor:
        source = _events(cursor)
    assert Task.objects.count() > manifest["counts"]["tasks"] >= 4  # the writer went on
    fresh = tmp_path / "fresh.sqlite3"
    result = _manage(tmp_path, f"sqlite:///{fresh}", "restore", "--input", str(backup), "--yes")
    assert result.returncode == 0, result.stderr
    printed = _counts_printed(result.stdout)
    assert printed == {k: (str(v), str(v)) for k, v in manifest["counts"].items()}
    assert "Counts match." in result.stdout
    with closing(sqlite3.connect(fresh)) as restored_db:
        restored = _events(restored_db.cursor())
        tasks = restored_db.execute("SELECT COUNT(*) FROM a2a_task").fetchone()[0]
    assert tasks == manifest["counts"]["tasks"]
    _check_restored(restored, source, before, manifest)
    assert TaskEvent.objects.count() == len(source)


def test_sqlite_restore_refuses_a_database_in_use(tmp_path: Path) -> None:
    backup = tmp_path / "b.sqlite3"
    with closing(sqlite3.connect(backup)) as db:
        db.execute("CREATE TABLE t (x)")
        db.commit()
    target = tmp_path / "live.sqlite3"
    holder = sqlite3.connect(target)
    holder.execute("PRAGMA journal_mode=WAL")
    holder.execute("CREATE TABLE t (x)")
    holder.commit()
    try:
        result = _manage(
            tmp_path, f"sqlite:///{target}", "restore", "--input", str(backup), "--yes"
        )
    finally:
        holder.close()
    assert result.returncode == 1
    assert "is in use" in result.stderr
    assert "Traceback" not in result.stderr
    assert not list(tmp_path.glob("live.sqlite3.pre-restore-*"))


def test_restore_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="does not exist"):
        call_command("restore", input=str(tmp_path / "missing"), yes=True)
    dump = tmp_path / "pg.dump"
    dump.write_bytes(b"PGDMP\x01\x0e\x00")
    with pytest.raises(
        CommandError, match="is a postgresql backup but the configured database is sqlite"
    ):
        call_command("restore", input=str(dump), yes=True)
    with pytest.raises(CommandError, match="pg_webcap_missing not found on PATH"):
        find_binary("pg_webcap_missing")
    with pytest.raises(CommandError, match="does not exist"):
        call_command("backup", output=str(tmp_path / "no" / "such" / "file"))


# --- PostgreSQL -------------------------------------------------------------------------------

SEND_LOOP = """
import os, time
from tests.factories import make_user, send
owner = make_user("pg-writer")
for i in range(3):
    send(owner, f"before {i}")
print("ready", flush=True)
deadline = time.monotonic() + 60
while time.monotonic() < deadline and not os.path.exists(os.environ["BACKUP_TEST_STOP"]):
    send(owner, "during")
"""


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    require_binaries()
    binaries_require("pg_dump", "pg_restore", hint="PostgreSQL 15 client binaries")
    workdir = Path(tempfile.mkdtemp(prefix="webcap-backup-pg-"))
    server = PostgresServer(workdir)
    try:
        server.start()
        server.manage("migrate", "--noinput", "-v", "0")
        yield server
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def test_postgres_backup_during_writes_restores_into_another_database(
    postgres: PostgresServer, tmp_path: Path
) -> None:
    import psycopg

    with psycopg.connect(postgres.dsn("postgres"), autocommit=True) as conn:
        conn.execute("CREATE DATABASE restored")
    restored_url = postgres.url.rsplit("/", 1)[0] + "/restored"
    stop_file = tmp_path / "stop"
    env = webcap_env(tmp_path / "var", DATABASE_URL=postgres.url, BACKUP_TEST_STOP=str(stop_file))
    writer = subprocess.Popen(
        [sys.executable, "manage.py", "shell", "-c", SEND_LOOP],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout is not None
        line = "?"
        while line and line.strip() != "ready":
            line = writer.stdout.readline()
        assert line.strip() == "ready"
        with psycopg.connect(postgres.dsn()) as conn:
            before = len(_events(conn.cursor()))
        backup = tmp_path / "webcap.dump"
        result = _manage(tmp_path, postgres.url, "backup", "--output", str(backup))
        assert result.returncode == 0, result.stderr
    finally:
        stop_file.touch()
        try:
            _, err = writer.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            writer.kill()
            writer.communicate(timeout=10)
            raise
    assert writer.returncode == 0, err
    manifest = json.loads((tmp_path / "webcap.dump.manifest.json").read_text())
    assert manifest["engine"] == "postgresql"
    assert backup.read_bytes()[:5] == b"PGDMP"
    with psycopg.connect(postgres.dsn()) as conn:
        source = _events(conn.cursor())
        source_tasks = _one(conn, "SELECT COUNT(*) FROM a2a_task")
    assert source_tasks > manifest["counts"]["tasks"] >= 3  # the writer went on

    # Into an empty database, then again over the now-populated one (--clean).
    for _ in range(2):
        result = _manage(tmp_path, restored_url, "restore", "--input", str(backup), "--yes")
        assert result.returncode == 0, result.stderr
        assert _counts_printed(result.stdout) == {
            k: (str(v), str(v)) for k, v in manifest["counts"].items()
        }
        with psycopg.connect(postgres.dsn("restored")) as conn:
            restored = _events(conn.cursor())
            tasks = _one(conn, "SELECT COUNT(*) FROM a2a_task")
        assert tasks == manifest["counts"]["tasks"]
        _check_restored(restored, source, before, manifest)
