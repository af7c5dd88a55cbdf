"""Functions the sandbox tests run as sandboxed tools: standard library only, no Django.

The sandbox child imports this module by name and nothing else of webcap (tools/sandbox/),
so nothing here may import settings, models or the registry.
"""

from __future__ import annotations

import os
import socket
import time


def nap(seconds: float) -> str:
    """Sleep, then say so."""
    time.sleep(seconds)
    return f"slept {seconds:g} s"


def hog(megabytes: int) -> int:
    """Allocate that much memory and touch it."""
    block = bytearray(megabytes * 1024 * 1024)
    return len(block)


def spin(seconds: float) -> int:
    """Burn CPU time for up to that many seconds of wall time."""
    end = time.monotonic() + seconds
    turns = 0
    while time.monotonic() < end:
        turns += 1
    return turns


def environment() -> dict[str, str]:
    """Return the environment the tool sees."""
    return dict(os.environ)


def dial(port: int) -> str:
    """Open a TCP connection to 127.0.0.1:port and read its greeting."""
    with socket.create_connection(("127.0.0.1", port), timeout=2) as connection:
        return connection.recv(100).decode()


def hoard(files: int) -> int:
    """Open that many files at once."""
    handles = [open(os.devnull) for _ in range(files)]  # noqa: SIM115 - kept open on purpose
    for handle in handles:
        handle.close()
    return len(handles)


def words(text: str) -> int:
    """Count the words of text."""
    return len(text.split())


def parent_environment() -> str:
    """Try to read the worker's environment through /proc."""
    try:
        with open(f"/proc/{os.getppid()}/environ", "rb") as environ:
            return environ.read().decode(errors="replace")
    except OSError as exc:
        return f"refused: {type(exc).__name__}"
