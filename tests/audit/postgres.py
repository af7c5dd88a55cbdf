"""The PostgreSQL test server moved to ``tests/postgres_server.py``; re-exported here."""

from tests.postgres_server import BINARIES, PostgresServer, missing_binaries

__all__ = ["BINARIES", "PostgresServer", "missing_binaries"]
