"""Benchmark the permission-scoped task reads: ListTasks and GetTask through the selectors.

Every read of a task goes through ``tasks_visible_to`` (owner OR a ``view_task`` object
permission, two EXISTS subqueries; every task for admins and operators). This measures what
that costs on a table of realistic size: a fresh database is migrated and seeded with
bulk_create (the same rows ``task_create`` and ``task_share_set`` write), then ListTasks
(first and a later keyset page, ``tasks_list_for_user``) and GetTask (``task_get_for_user``)
are timed for an owner, a viewer with shared tasks, an operator and a stranger, and the query
plans of the owner's and the viewer's ListTasks show whether the indexes are used.

    .venv/bin/python bench/authz_reads.py [--tasks N] [--users U] [--shares S]
        [--database-url URL | --postgres] [--seconds PER_CASE] [--analyze]

Nothing outside a fresh temporary folder is written: var/ stays untouched, a SQLite database
is made in the temporary folder, and a ``--database-url`` database is never written itself
(a database ``webcap_bench_<random>`` is created next to it and dropped at the end).
"""

from __future__ import annotations

import argparse
import glob
import os
import random
import shutil
import signal
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

ROOT = Path(__file__).resolve().parents[1]
# The keyset page timed besides the first: deep enough to start mid-table, cheap to reach.
LATER_PAGE = 5

if TYPE_CHECKING:
    from accounts.models import User


@dataclass(frozen=True)
class Options:
    tasks: int
    users: int
    shares: int
    approver_shares: int
    database_url: str
    postgres: bool
    seconds: float
    analyze: bool


@dataclass(frozen=True)
class Result:
    case: str
    p50_ms: float
    p95_ms: float
    runs: int
    queries: int
    rows: str


@dataclass(frozen=True)
class Seeded:
    """The people of the benchmark and a task id each of them reads."""

    owner: User
    viewer: User
    operator: User
    stranger: User
    owner_task: str
    viewer_task: str
    seconds: float


def parse_args(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=20_000, help="tasks in the table")
    parser.add_argument("--users", type=int, default=200, help="owners the tasks are spread over")
    parser.add_argument("--shares", type=int, default=500, help="tasks shared with the viewer")
    parser.add_argument(
        "--approver-shares", type=int, default=20, help="tasks shared with the approver"
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--database-url",
        default="",
        help="a server to use (a database webcap_bench_<random> is created and dropped); "
        "default: a SQLite file in a temporary folder",
    )
    where.add_argument(
        "--postgres",
        action="store_true",
        help="start a throwaway PostgreSQL on 127.0.0.1 (initdb, pg_ctl) and use it",
    )
    parser.add_argument("--seconds", type=float, default=2.0, help="time budget of each timed case")
    parser.add_argument(
        "--analyze",
        action="store_true",
        help="run ANALYZE on SQLite after seeding (PostgreSQL is always analyzed)",
    )
    args = parser.parse_args(argv)
    if args.users < 3 or args.tasks < args.users or args.shares + args.approver_shares > args.tasks:
        parser.error("need users >= 3, tasks >= users and shares + approver shares <= tasks")
    return Options(
        tasks=args.tasks,
        users=args.users,
        shares=args.shares,
        approver_shares=args.approver_shares,
        database_url=args.database_url,
        postgres=args.postgres,
        seconds=args.seconds,
        analyze=args.analyze,
    )


def _stop_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit, so the finally blocks stop PostgreSQL and clean up."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


def _configure_django(
    *, var_dir: Path, database_url: str, environment: dict[str, str] | None = None
) -> None:
    # The settings read the environment once, at import: a WEBCAP_VAR_DIR, DATABASE_URL or
    # REDIS_URL of the caller's shell must not point the benchmark at real data.
    from tests.live.server import SETTINGS_PREFIXES

    for name in list(os.environ):
        if name.startswith(SETTINGS_PREFIXES):
            del os.environ[name]
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    os.environ["WEBCAP_VAR_DIR"] = str(var_dir)
    os.environ["DATABASE_URL"] = database_url
    os.environ.update(environment or {})
    import django

    django.setup()


@contextmanager
def throwaway_database(
    *, postgres: bool, database_url: str = "", environment: dict[str, str] | None = None
) -> Iterator[float]:
    """Set Django up on a migrated database of its own; yield how long migrating took.

    SQLite in a temporary folder, a throwaway PostgreSQL (``postgres``), or a test database
    beside ``database_url``; all of it is removed again at the end. ``environment`` adds
    settings (the caller's own WEBCAP_... variables are never read).
    """
    tmp = Path(tempfile.mkdtemp(prefix="webcap-bench-"))
    pg_dir = Path(tempfile.mkdtemp(prefix="webcap-bench-pg-")) if postgres else None
    try:
        with _postgres(pg_dir) if pg_dir is not None else _nothing() as pg_url:
            url = pg_url or database_url or f"sqlite:///{tmp / 'bench.sqlite3'}"
            _configure_django(var_dir=tmp / "var", database_url=url, environment=environment)
            drop, migrate_seconds = _migrate(fresh=not database_url, tmp=tmp)
            try:
                yield migrate_seconds
            finally:
                drop()
                from django.db import connections

                connections.close_all()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if pg_dir is not None:
            shutil.rmtree(pg_dir, ignore_errors=True)


@contextmanager
def _postgres(workdir: Path) -> Iterator[str]:
    """Run a throwaway PostgreSQL (the test suite's helper) and yield its URL."""
    if shutil.which("initdb") is None:
        # Debian keeps the server binaries out of PATH.
        versions = [Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin")]
        newest = max(
            (v for v in versions if v.name.isdigit()), key=lambda v: int(v.name), default=None
        )
        if newest is not None:
            os.environ["PATH"] = f"{newest / 'bin'}{os.pathsep}{os.environ['PATH']}"
    from tests.postgres_server import PostgresServer, missing_binaries

    missing = missing_binaries()
    if missing:
        raise SystemExit(f"PostgreSQL binaries not found: {', '.join(missing)}")
    server = PostgresServer(workdir)
    try:
        server.start()
        yield server.url
    finally:
        pid = _postmaster_pid(server.data)
        try:
            server.stop()
        except (RuntimeError, OSError) as exc:
            print(f"pg_ctl stop failed ({exc}); stopping PID {pid}", file=sys.stderr)
        if pid is not None and _alive(pid):
            os.kill(pid, signal.SIGTERM)


def _postmaster_pid(data: Path) -> int | None:
    try:
        return int((data / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _migrate(*, fresh: bool, tmp: Path) -> tuple[Callable[[], None], float]:
    """Migrate a fresh database; return how to drop it and how long migrating took."""
    from django.core.management import call_command
    from django.db import connection

    started = time.perf_counter()
    if fresh:
        call_command("migrate", verbosity=0, interactive=False)
        return (lambda: None), time.perf_counter() - started
    # A database the caller named: leave it alone, work in Django's test database instead.
    old_name = connection.settings_dict["NAME"]
    # A name of its own, so no one's test database is clobbered.
    connection.settings_dict["TEST"]["NAME"] = (
        str(tmp / "bench-test.sqlite3")
        if connection.vendor == "sqlite"
        else f"webcap_bench_{uuid.uuid4().hex[:12]}"
    )
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)

    def drop() -> None:
        connection.creation.destroy_test_db(old_name, verbosity=0)

    return drop, time.perf_counter() - started


def seed(options: Options) -> Seeded:
    """Fill the store with bulk_create: the rows task_create and task_share_set write."""
    from django.conf import settings
    from django.contrib.auth.models import Group, Permission
    from django.db import connection, transaction
    from django.utils import timezone

    from a2a.models import Context, Message, Role, Task, TaskState, TaskUserObjectPermission
    from a2a.protocol import convert
    from a2a.selectors import APPROVE, OWNER_PERMISSIONS, VIEW
    from accounts.models import User
    from accounts.roles import APPROVER, OPERATOR, VIEWER

    started = time.perf_counter()
    rng = random.Random(5)
    # Most tasks of a long-running store are finished; a few are in flight.
    states = [TaskState.COMPLETED] * 8 + [TaskState.FAILED, TaskState.INPUT_REQUIRED]
    now = timezone.now()
    with transaction.atomic():
        User.objects.bulk_create(
            User(username=f"bench-{i:05d}", password="!") for i in range(options.users)
        )
        User.objects.bulk_create(
            User(username=name, password="!") for name in ("viewer", "approver", "operator")
        )
        people = {u.username: u for u in User.objects.all()}
        owners = [people[f"bench-{i:05d}"] for i in range(options.users)]
        for name, role in (("viewer", VIEWER), ("approver", APPROVER), ("operator", OPERATOR)):
            people[name].groups.add(Group.objects.get(name=role))

        contexts: list[Context] = []
        tasks: list[Task] = []
        messages: list[Message] = []
        for i in range(options.tasks):
            # Round robin: an owner's tasks are spread over the whole table, as in a shared
            # server, not stored side by side.
            owner = owners[i % options.users]
            # *_id rather than objects: the related-object descriptors and checks otherwise
            # cost about a sixth of the seeding time (140 000 rows).
            context = Context(id=uuid.uuid4(), owner_id=owner.pk, key=str(uuid.uuid4()))
            # status_timestamp ties are real (many tasks finish in the same second); the id
            # breaks them in the keyset order.
            task = Task(
                id=uuid.uuid4(),
                owner_id=owner.pk,
                context_id=context.id,
                agent=settings.WEBCAP_AGENT,
                state=rng.choice(states),
                status_timestamp=now - timedelta(seconds=(options.tasks - i) // 2),
                last_seq=1,
            )
            message = Message(
                owner_id=owner.pk,
                context_id=context.id,
                task_id=task.id,
                message_id=f"msg-{i}",
                role=Role.USER,
                parts=[{"text": f"question {i}"}],
                position=1,
                seq=1,
            )
            # The task carries its history in wire form, as message_send writes it.
            task.wire_history = [convert.message_to_wire(message, context_key=context.key)]
            contexts.append(context)
            tasks.append(task)
            messages.append(message)
        Context.objects.bulk_create(contexts, batch_size=2000)
        Task.objects.bulk_create(tasks, batch_size=2000)
        Message.objects.bulk_create(messages, batch_size=2000)

        # As _owner_permissions_grant (a2a/services/messages.py) and task_share_set
        # (a2a/services/shares.py): guardian rows with the direct foreign key to the task.
        permissions = {
            p.codename: p
            for p in Permission.objects.filter(
                content_type__app_label="a2a",
                content_type__model="task",
                codename__in=OWNER_PERMISSIONS,
            )
        }
        rows = [
            TaskUserObjectPermission(
                user_id=task.owner_id, permission_id=p.pk, content_object_id=task.id
            )
            for task in tasks
            for p in permissions.values()
        ]
        shared = rng.sample(tasks, options.shares + options.approver_shares)
        viewer_tasks, approver_tasks = shared[: options.shares], shared[options.shares :]
        rows += [
            TaskUserObjectPermission(
                user_id=people["viewer"].pk,
                permission_id=permissions[VIEW].pk,
                content_object_id=task.id,
            )
            for task in viewer_tasks
        ]
        rows += [
            TaskUserObjectPermission(
                user_id=people["approver"].pk,
                permission_id=permissions[codename].pk,
                content_object_id=task.id,
            )
            for task in approver_tasks
            for codename in (VIEW, APPROVE)
        ]
        TaskUserObjectPermission.objects.bulk_create(rows, batch_size=5000)

    if connection.vendor == "postgresql" or options.analyze:
        # PostgreSQL's autovacuum would analyze the fresh tables at some point of the run and
        # change the plans midway; SQLite has no statistics unless someone runs ANALYZE.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")

    owner = owners[0]
    return Seeded(
        owner=owner,
        viewer=people["viewer"],
        operator=people["operator"],
        stranger=owners[1],
        owner_task=str(tasks[options.users * (options.tasks // options.users // 2)].id),
        viewer_task=str(viewer_tasks[len(viewer_tasks) // 2].id) if viewer_tasks else "",
        seconds=time.perf_counter() - started,
    )


def _timed(case: str, call: Callable[[], str], *, expect: str, budget: float) -> Result:
    """Time call until budget seconds are spent (5 to 2000 runs); count its queries once."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    rows = call()  # warm: the first call pays for imports and prepared statements
    if rows != expect:
        # A fast answer to the wrong question is no figure: the scoping must still hold.
        raise SystemExit(f"{case}: expected {expect}, got {rows}")
    with CaptureQueriesContext(connection) as queries:
        call()
    samples: list[float] = []
    deadline = time.perf_counter() + budget
    while len(samples) < 5 or (len(samples) < 2000 and time.perf_counter() < deadline):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return Result(
        case=case,
        p50_ms=statistics.median(samples),
        p95_ms=cuts[94],
        runs=len(samples),
        queries=len(queries.captured_queries),
        rows=rows,
    )


def _as_request(user: User, page: int) -> tuple[Any, int]:
    """Return the ListTasksRequest of the user's page-th page (1-based) and the page number.

    Pages are walked up to ``page`` once, untimed, to get a real keyset cursor; the page is
    the last one when the user has fewer.
    """
    from a2a.protocol import types as wire
    from a2a.selectors import tasks_list_for_user

    token = ""
    reached = 1
    for _ in range(page - 1):
        answer = tasks_list_for_user(user=user, request=wire.ListTasksRequest(page_token=token))
        if not answer["nextPageToken"]:
            break
        token = answer["nextPageToken"]
        reached += 1
    return wire.ListTasksRequest(page_token=token or None), reached


def _list_call(user: User, request: Any) -> Callable[[], str]:
    from a2a.selectors import tasks_list_for_user
    from accounts.roles import forget_roles

    def call() -> str:
        # Roles are looked up once per request; a fresh request does not have them cached.
        forget_roles(user)
        answer = tasks_list_for_user(user=user, request=request)
        return f"{len(answer['tasks'])} of {answer['totalSize']}"

    return call


def _get_call(user: User, task_id: str) -> Callable[[], str]:
    from a2a.protocol.errors import TaskNotFoundError
    from a2a.selectors import task_get_for_user
    from accounts.roles import forget_roles

    def call() -> str:
        forget_roles(user)
        try:
            task_get_for_user(user=user, task_id=task_id)
        except TaskNotFoundError:
            return "not found"
        return "found"

    return call


def measure(seeded: Seeded, options: Options) -> list[Result]:
    """Time ListTasks (first and a later page) and GetTask for each kind of reader."""
    from a2a.selectors import DEFAULT_PAGE_SIZE

    readers = [
        ("owner", seeded.owner, seeded.owner_task, len(range(0, options.tasks, options.users))),
        ("viewer", seeded.viewer, seeded.viewer_task, options.shares),
        ("operator", seeded.operator, seeded.owner_task, options.tasks),
    ]
    results: list[Result] = []
    for name, user, task_id, visible in readers:
        for page in (1, LATER_PAGE):
            request, reached = _as_request(user, page)
            if page > 1 and reached == 1:
                continue  # one page only: there is no later page to time
            shown = min(DEFAULT_PAGE_SIZE, visible - (reached - 1) * DEFAULT_PAGE_SIZE)
            results.append(
                _timed(
                    f"{name} ListTasks p{reached}",
                    _list_call(user, request),
                    expect=f"{shown} of {visible}",
                    budget=options.seconds,
                )
            )
        if task_id:
            results.append(
                _timed(
                    f"{name} GetTask",
                    _get_call(user, task_id),
                    expect="found",
                    budget=options.seconds,
                )
            )
    results.append(
        _timed(
            "stranger GetTask (other's id)",
            _get_call(seeded.stranger, seeded.owner_task),
            expect="not found",
            budget=options.seconds,
        )
    )
    return results


def _recorded_queries(call: Callable[[], Any]) -> list[tuple[str, Any]]:
    """Run call and return the (sql, params) of each query it sent, unformatted."""
    from django.db import connection

    seen: list[tuple[str, Any]] = []

    def record(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        seen.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        call()
    return seen


def explain(user: User, request: Any) -> list[tuple[str, list[str]]]:
    """Return the plan of each task query of the user's ListTasks call (count, page)."""
    from django.db import connection

    from a2a.selectors import tasks_list_for_user

    queries = _recorded_queries(lambda: tasks_list_for_user(user=user, request=request))
    plans: list[tuple[str, list[str]]] = []
    with connection.cursor() as cursor:
        for sql, params in queries:
            if '"a2a_task"' not in sql.split(" WHERE ")[0]:
                continue  # the roles lookup and the histories are not the scoped read
            label = "count" if "COUNT(*)" in sql else "page"
            if connection.vendor == "sqlite":
                cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
                plans.append((label, _sqlite_tree(cursor.fetchall())))
            else:
                # ANALYZE: the rows each step really read and threw away tell whether the
                # scoped read seeks or scans.
                cursor.execute(f"EXPLAIN ANALYZE {sql}", params)
                plans.append((label, [row[0] for row in cursor.fetchall()]))
    return plans


def _sqlite_tree(rows: list[tuple[int, int, int, str]]) -> list[str]:
    depth: dict[int, int] = {0: -1}
    lines = []
    for node, parent, _, detail in rows:
        depth[node] = depth.get(parent, -1) + 1
        lines.append("  " * depth[node] + detail)
    return lines


def report(
    *,
    options: Options,
    seeded: Seeded,
    migrate_seconds: float,
    results: list[Result],
    plans: list[tuple[str, list[str]]],
) -> None:
    from django.db import connection

    from a2a.models import Task, TaskUserObjectPermission

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT sqlite_version()" if connection.vendor == "sqlite" else "SHOW server_version"
        )
        version = cursor.fetchone()[0]
    print(
        f"database: {connection.vendor} {version}"
        f"{' (analyzed)' if connection.vendor != 'sqlite' or options.analyze else ''}; "
        f"{Task.objects.count()} tasks over {options.users} owners, "
        f"{TaskUserObjectPermission.objects.count()} object permissions, "
        f"{options.shares} shared with the viewer, {options.approver_shares} with the approver"
    )
    print(f"migrate {migrate_seconds:.1f} s, seed {seeded.seconds:.1f} s\n")
    width = max(len(r.case) for r in results)
    print(f"{'case':<{width}}  {'p50 ms':>8}  {'p95 ms':>8}  {'queries':>7}  {'runs':>5}  result")
    for r in results:
        print(
            f"{r.case:<{width}}  {r.p50_ms:8.2f}  {r.p95_ms:8.2f}  {r.queries:7d}  "
            f"{r.runs:5d}  {r.rows}"
        )
    keyword = "EXPLAIN QUERY PLAN" if connection.vendor == "sqlite" else "EXPLAIN ANALYZE"
    for label, lines in plans:
        print(f"\n{keyword} of the {label}:")
        for line in lines:
            print(f"  {line}")


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    _stop_on_sigterm()
    # Run as a script, bench/ is first on the path; the project (and tests/) must be too.
    sys.path.insert(0, str(ROOT))
    started = time.perf_counter()
    with throwaway_database(
        postgres=options.postgres, database_url=options.database_url
    ) as migrate_seconds:
        seeded = seed(options)
        results = measure(seeded, options)
        plans = [
            (f"{name}'s ListTasks (first page), {query} query", lines)
            for name, user in (("owner", seeded.owner), ("viewer", seeded.viewer))
            for query, lines in explain(user, _as_request(user, 1)[0])
        ]
        report(
            options=options,
            seeded=seeded,
            migrate_seconds=migrate_seconds,
            results=results,
            plans=plans,
        )
    print(f"\ntotal {time.perf_counter() - started:.1f} s")
    return 0


@contextmanager
def _nothing() -> Iterator[str]:
    yield ""


if __name__ == "__main__":
    sys.exit(main())
