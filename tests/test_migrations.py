"""Every migration is reversible: migrate forward, every app back to zero, forward again.

Runs ``manage.py`` in a subprocess against a fresh SQLite file and a throwaway PostgreSQL on
127.0.0.1; under ``CI=true`` missing PostgreSQL binaries fail rather than skip.
"""

from __future__ import annotations

from pathlib import Path

from tests.live.server import run_manage, webcap_env
from tests.postgres_server import running_postgres

# Unapplies app by app, newest leaf first; "migrate <app> zero" also unapplies dependents.
ROUND_TRIP = """
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

call_command("migrate", verbosity=0, interactive=False)
# Rows that point at a role group, so reversing accounts 0003_roles has memberships and
# group permissions to remove, not only empty groups.
from django.contrib.auth.models import Group
from accounts.models import User
user = User.objects.create_user(username="mig-operator")
user.groups.add(Group.objects.get(name="operator"))
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
granted = Group.objects.filter(permissions__isnull=False).distinct()
assert sorted(granted.values_list("name", flat=True)) == ["admin", "operator"]
print("ROUND-TRIP-OK", len(apps))
"""


def _round_trip(database_url: str, var_dir: Path) -> str:
    env = webcap_env(var_dir, DATABASE_URL=database_url)
    result = run_manage(env, "shell", "-c", ROUND_TRIP, timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]
    return result.stdout


def test_migrations_reverse_on_sqlite(tmp_path: Path) -> None:
    out = _round_trip(f"sqlite:///{tmp_path / 'mig.sqlite3'}", tmp_path / "var")
    assert "ROUND-TRIP-OK" in out


def test_migrations_reverse_on_postgres(tmp_path: Path) -> None:
    with running_postgres(prefix="webcap-mig-pg-") as server:
        out = _round_trip(server.url, tmp_path / "var")
    assert "ROUND-TRIP-OK" in out
