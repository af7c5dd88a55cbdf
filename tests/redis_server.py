"""A throwaway redis-server on 127.0.0.1 for tests that need the real thing.

Started on a free port with its data in a temp folder, stopped by PID; it can be killed and
started again on the same port and data (the append-only file brings queued jobs back).
Under ``CI=true`` a missing binary fails the test run instead of skipping it (``.ci/run``
installs it).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.binaries import binaries_require
from tests.live.server import free_port


def redis_binary() -> str:
    """Return the redis-server path, or skip (fail under CI) when it is not installed."""
    hint = "apt-get install -y redis-server"
    return binaries_require("redis-server", hint=hint)["redis-server"]


class RedisServer:
    """redis-server on one port and folder; ``appendonly`` fsyncs every write (as a broker
    that must not lose a queued job should)."""

    def __init__(self, workdir: Path, *, appendonly: bool = False) -> None:
        self.workdir = workdir
        self.appendonly = appendonly
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        persistence = ["--appendonly", "no"]
        if self.appendonly:
            persistence = ["--appendonly", "yes", "--appendfsync", "always"]
        self.process = subprocess.Popen(
            [
                redis_binary(),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.workdir),
                "--save",
                "",
                *persistence,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        import redis

        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=1).ping()
                return
            except redis.RedisError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is None:
            return
        process, self.process = self.process, None
        if process.poll() is None:
            os.kill(process.pid, sig)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def redis_server(workdir: Path, *, appendonly: bool = False) -> Iterator[str]:
    """Run redis-server until the block ends; yield its URL."""
    server = RedisServer(workdir, appendonly=appendonly)
    server.start()
    try:
        yield server.url
    finally:
        server.stop()
