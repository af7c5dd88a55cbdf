"""Every migration is reversible: migrate forward, every app back to zero, forward again.

Runs ``manage.py`` in a subprocess against a fresh SQLite file and a throwaway PostgreSQL on
127.0.0.1; under ``CI=true`` missing PostgreSQL binaries fail rather than skip.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from tests.live.server import run_manage, webcap_env
from tests.postgres_server import PostgresServer, missing_binaries

# Unapplies app by app, newest leaf first; "migrate <app> zero" also unapplies dependents.
ROUND_TRIP = """
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

call_command("migrate", verbosity=0, interactive=False)
executor = MigrationExecutor(connection)
order = executor.loader.graph.leaf_nodes()
apps = []
for app, _ in reversed(order):
    if app not in apps:
        apps.append(app)
for app in apps:
    call_command("migrate", app, "zero", verbosity=0, interactive=False)
executor.loader.build_graph()
left = sorted(executor.loader.applied_migrations)
assert not left, f"still applied after zero: {left}"
call_command("migrate", verbosity=0, interactive=False)
print("ROUND-TRIP-OK", len(apps))
"""

# accounts/migrations/0003_roles.py: remove_roles deletes historical Groups through the ORM
# collector, which fails ("Cannot query 'Group object (1)': Must be 'Group' instance") on
# accounts.User's groups relation. Reported to the lead; drop this mark once it is fixed.
KNOWN_IRREVERSIBLE = pytest.mark.xfail(
    reason="accounts 0003_roles reverse fails in the ORM delete collector", strict=True
)


def _round_trip(database_url: str, var_dir: Path) -> str:
    env = webcap_env(var_dir, DATABASE_URL=database_url)
    result = run_manage(env, "shell", "-c", ROUND_TRIP, timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]
    return result.stdout


@KNOWN_IRREVERSIBLE
def test_migrations_reverse_on_sqlite(tmp_path: Path) -> None:
    out = _round_trip(f"sqlite:///{tmp_path / 'mig.sqlite3'}", tmp_path / "var")
    assert "ROUND-TRIP-OK" in out


@KNOWN_IRREVERSIBLE
def test_migrations_reverse_on_postgres(tmp_path: Path) -> None:
    missing = missing_binaries()
    if missing:
        message = f"PostgreSQL binaries not found: {', '.join(missing)}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    # Not tmp_path: the postgres system user must reach the data folder (no 0700 parents).
    workdir = Path(tempfile.mkdtemp(prefix="webcap-mig-pg-"))
    server = PostgresServer(workdir)
    try:
        server.start()
        out = _round_trip(server.url, tmp_path / "var")
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    assert "ROUND-TRIP-OK" in out
