"""A throwaway PostgreSQL server on 127.0.0.1 for tests, the cluster and the PostgreSQL pass.

initdb refuses to run as root; as root the server runs as the ``postgres`` system user.

``python -m tests.postgres_server -- <command...>`` starts a server, runs the command with
``DATABASE_URL`` pointing at it, stops the server by its pg_ctl and exits with the command's
status (``make test`` runs the unit suite a second time this way).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.live.server import ROOT, free_port, manage_stdout, webcap_env

BINARIES = ("initdb", "pg_ctl", "postgres")
STOP_MODES = ("smart", "fast", "immediate")


def missing_binaries() -> list[str]:
    return [name for name in BINARIES if shutil.which(name) is None]


def require_binaries() -> None:
    """Skip the calling test when PostgreSQL is not installed; fail it under ``CI=true``."""
    from tests.binaries import binaries_require

    binaries_require(*BINARIES, hint="PostgreSQL 15 server binaries")


@contextmanager
def running_postgres(prefix: str = "webcap-pg-") -> Iterator[PostgresServer]:
    """Start a throwaway server for a test; stop it and delete its folder afterwards."""
    require_binaries()
    # Not pytest's tmp_path: the postgres system user must reach the folder (no 0700 parents).
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    server = PostgresServer(workdir)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


class PostgresServer:
    """initdb + pg_ctl in a temp folder, trust auth on 127.0.0.1, one database ``webcap``."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.data = workdir / "pgdata"
        self.port = free_port()
        self.url = f"postgres://webcap@127.0.0.1:{self.port}/webcap"
        self._as_postgres = os.geteuid() == 0

    def _run(self, *args: str) -> None:
        command = list(args)
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")

    def start(self) -> None:
        """Start the server; the first start initdb's the folder and creates ``webcap``.

        A later start (after ``stop``) reuses the data folder and the port: the same server
        comes back with everything it had committed.
        """
        created = not (self.data / "PG_VERSION").exists()
        if created:
            self._initdb()
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.data / "server.log"),
            "-o",
            f"-h 127.0.0.1 -p {self.port} -k {self.data}",
            "-w",
            "start",
        )
        if created:
            import psycopg

            with psycopg.connect(self.dsn("postgres"), autocommit=True) as conn:
                conn.execute("CREATE DATABASE webcap")

    def _initdb(self) -> None:
        # The postgres user must reach the data folder: no 0700 parents (pytest's tmp_path).
        self.workdir.chmod(0o755)
        self.data.mkdir(exist_ok=True)
        if self._as_postgres:
            shutil.chown(self.data, user="postgres", group="postgres")
        self._run("initdb", "-D", str(self.data), "-U", "webcap", "--auth=trust", "-E", "UTF8")

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: ``fast`` (disconnect clients, checkpoint), ``smart`` (wait for
        clients) or ``immediate`` (no checkpoint: the next start recovers from the WAL, as
        after a crash)."""
        if mode not in STOP_MODES:
            raise ValueError(f"unknown pg_ctl stop mode {mode!r}, expected one of {STOP_MODES}")
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def restart(self, mode: str = "fast") -> None:
        """Stop the server with mode and start it again on the same data folder and port."""
        self.stop(mode)
        self.start()

    def dsn(self, database: str = "webcap") -> str:
        return f"host=127.0.0.1 port={self.port} user=webcap dbname={database}"

    def manage(self, *args: str) -> str:
        """Run a management command with DATABASE_URL pointing here; return its stdout."""
        env = webcap_env(self.workdir / "var", DATABASE_URL=self.url)
        return manage_stdout(env, *args)


def main(argv: list[str]) -> int:
    """Run ``argv`` (after an optional ``--``) against a fresh server; return its status."""
    command = argv[1:] if argv[:1] == ["--"] else argv
    if not command:
        print("usage: python -m tests.postgres_server -- <command...>", file=sys.stderr)
        return 2
    missing = missing_binaries()
    if missing:
        print(f"PostgreSQL binaries not found: {', '.join(missing)}", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="webcap-pg-") as tmp:
        server = PostgresServer(Path(tmp))
        try:
            server.start()
            env = {**os.environ, "DATABASE_URL": server.url}
            return subprocess.run(command, cwd=ROOT, env=env, check=False).returncode
        finally:
            server.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
