"""webcap's SQLite backend (common/sqlite): a process's writers queue in one lock per file.

Each test opens its own connections to a fresh file, outside DATABASES, so it runs the same
whatever database the suite itself uses.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connections, transaction
from django.db.utils import OperationalError, load_backend

OPTIONS = {
    "transaction_mode": "IMMEDIATE",
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
}
ALIAS = "sqlite_writers"

Connect = Callable[..., Any]


@pytest.fixture
def connect(tmp_path: Path, django_db_blocker: Any) -> Iterator[Connect]:
    """connect(timeout): a connection to one fresh file, as ALIAS in the calling thread."""
    name = str(tmp_path / "writers.sqlite3")
    opened: list[Any] = []

    def open_here(timeout: float = 5) -> Any:
        settings_dict = {
            **connections.settings["default"],
            "ENGINE": "common.sqlite",
            "NAME": name,
            "OPTIONS": {**OPTIONS, "timeout": timeout},
        }
        wrapper = load_backend("common.sqlite").DatabaseWrapper(settings_dict, ALIAS)
        wrapper.inc_thread_sharing()  # closed by the fixture, in the test's thread
        connections[ALIAS] = wrapper
        opened.append(wrapper)
        return wrapper

    # Not the suite's database: pytest-django's guard is for that one.
    with django_db_blocker.unblock():
        with open_here().cursor() as cursor:
            cursor.execute("CREATE TABLE row (id INTEGER PRIMARY KEY, body TEXT)")
        yield open_here
        for wrapper in opened:
            wrapper.close()


def _insert(wrapper: Any, body: str) -> None:
    with wrapper.cursor() as cursor:
        cursor.execute("INSERT INTO row (body) VALUES (%s)", [body])


def _in_thread(target: Callable[[], None]) -> threading.Thread:
    thread = threading.Thread(target=target)
    thread.start()
    return thread


def test_a_writer_waits_for_the_one_in_a_transaction_and_then_goes_on(connect: Connect):
    holder_in = threading.Event()
    holder_may_commit = threading.Event()
    order: list[str] = []

    def holder() -> None:
        wrapper = connect()
        with transaction.atomic(using=ALIAS):
            _insert(wrapper, "holder")
            holder_in.set()
            holder_may_commit.wait(10)
            order.append("holder committed")

    def writer() -> None:
        wrapper = connect()
        holder_in.wait(10)
        with transaction.atomic(using=ALIAS):
            order.append("writer began")
            _insert(wrapper, "writer")

    threads = [_in_thread(holder), _in_thread(writer)]
    holder_in.wait(10)
    holder_may_commit.set()
    for thread in threads:
        thread.join(10)
    # The writer's transaction began only once the holder's had ended, and did not fail.
    assert order == ["holder committed", "writer began"]
    with connect().cursor() as cursor:
        cursor.execute("SELECT body FROM row ORDER BY id")
        assert [row[0] for row in cursor.fetchall()] == ["holder", "writer"]


def test_a_writer_that_waits_past_its_timeout_fails_as_sqlite_would(connect: Connect):
    holder_in = threading.Event()
    writer_done = threading.Event()
    failures: list[BaseException] = []

    def holder() -> None:
        wrapper = connect()
        with transaction.atomic(using=ALIAS):
            _insert(wrapper, "holder")
            holder_in.set()
            writer_done.wait(10)

    def writer() -> None:
        wrapper = connect(timeout=0.05)
        holder_in.wait(10)
        try:
            with transaction.atomic(using=ALIAS):
                _insert(wrapper, "writer")
        except OperationalError as exc:
            failures.append(exc)
        finally:
            writer_done.set()

    for thread in [_in_thread(holder), _in_thread(writer)]:
        thread.join(10)
    assert [str(exc) for exc in failures] == ["database is locked"]


@pytest.mark.parametrize("ending", ["rollback", "close"])
def test_the_lock_is_given_back_when_a_transaction_ends_without_a_commit(
    connect: Connect, ending: str
):
    wrapper = connect()
    if ending == "rollback":

        def failing_block() -> None:
            with transaction.atomic(using=ALIAS):
                _insert(wrapper, "rolled back")
                raise RuntimeError("the block failed")

        with pytest.raises(RuntimeError):
            failing_block()
    else:
        transaction.atomic(using=ALIAS).__enter__()
        _insert(wrapper, "never committed")
        wrapper.close()
    # Another thread writes at once; with the lock still held it would fail after 0.05 s.
    failures: list[BaseException] = []

    def writer() -> None:
        other = connect(timeout=0.05)
        try:
            with transaction.atomic(using=ALIAS):
                _insert(other, "after")
        except OperationalError as exc:
            failures.append(exc)

    _in_thread(writer).join(10)
    assert failures == []


def test_nested_blocks_take_the_lock_once(connect: Connect):
    wrapper = connect()
    with transaction.atomic(using=ALIAS):
        _insert(wrapper, "outer")
        with transaction.atomic(using=ALIAS):
            _insert(wrapper, "inner")
    with wrapper.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM row")
        assert cursor.fetchone()[0] == 2
