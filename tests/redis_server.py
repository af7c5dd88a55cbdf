"""A throwaway redis-server on 127.0.0.1 for tests that need the real thing.

Started on a free port with its data in a temp folder, stopped by PID. Under ``CI=true`` a
missing binary fails the test run instead of skipping it (``.ci/run`` installs it).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.live.server import free_port


def redis_binary() -> str:
    """Return the redis-server path, or skip (fail under CI) when it is not installed."""
    binary = shutil.which("redis-server")
    if binary is None:
        message = "redis-server is not installed (apt-get install -y redis-server)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return binary


@contextmanager
def redis_server(workdir: Path, *, appendonly: bool = False) -> Iterator[str]:
    """Run redis-server until the block ends; yield its URL."""
    port = free_port()
    process = subprocess.Popen(
        [
            redis_binary(),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(workdir),
            "--save",
            "",
            "--appendonly",
            "yes" if appendonly else "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                import redis

                redis.Redis(host="127.0.0.1", port=port, socket_timeout=1).ping()
                break
            except Exception:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
