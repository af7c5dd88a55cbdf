"""Django's SQLite backend with its writers queued in the process, not in SQLite's busy loop.

With ``transaction_mode`` IMMEDIATE every transaction takes SQLite's write lock at BEGIN.
When the lock is held, SQLite's busy handler sleeps and retries on a fixed schedule (1, 2,
5, 10, 15, 20, 25, 25, 25, 50, 50, 100 ms ...) rather than waking when the lock is free: in
the embedded mode, where the web requests and the in-process worker's jobs all write from
threads of one process, a request that met a job's transaction slept several milliseconds
past its end. Measured on the bench machine (2026-12-07), task creation at c=1 while the
echo jobs of earlier tasks ran: 25 ms median, 50 ms at p95, against 7 ms on an idle server.

Here a transaction first takes a lock per database file in this process (waiting at most
the connection's ``timeout``, then failing as SQLite would, with "database is locked"), and
gives it back when it commits, rolls back or its connection closes: the next writer of the
process starts the moment the last one ends. Writers in other processes (a management
command beside ``make run``) still meet at SQLite's own lock, as before.
"""

from __future__ import annotations

import threading
from typing import Any

from django.db.backends.sqlite3 import base
from django.db.utils import OperationalError

# Typed as Any: django-stubs leaves out the private hooks overridden here.
_SQLiteWrapper: Any = base.DatabaseWrapper

_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def _write_lock(name: str) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(name, threading.Lock())


class DatabaseWrapper(_SQLiteWrapper):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._write_lock_held: threading.Lock | None = None

    def _start_transaction_under_autocommit(self) -> None:
        if self.transaction_mode not in ("IMMEDIATE", "EXCLUSIVE"):
            super()._start_transaction_under_autocommit()
            return
        lock = _write_lock(str(self.settings_dict["NAME"]))
        timeout = float(self.settings_dict.get("OPTIONS", {}).get("timeout", 5))
        if not lock.acquire(timeout=timeout):
            raise OperationalError("database is locked")
        self._write_lock_held = lock
        try:
            super()._start_transaction_under_autocommit()
        except BaseException:
            self._write_lock_release()
            raise

    def _write_lock_release(self) -> None:
        lock, self._write_lock_held = self._write_lock_held, None
        if lock is not None:
            lock.release()

    def _commit(self) -> Any:
        try:
            return super()._commit()
        finally:
            self._write_lock_release()

    def _rollback(self) -> Any:
        try:
            return super()._rollback()
        finally:
            self._write_lock_release()

    def _close(self) -> Any:
        try:
            return super()._close()
        finally:
            self._write_lock_release()
