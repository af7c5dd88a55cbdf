"""The sandbox: sandboxed tools run in a real child process under real limits.

Each test runs a function of tests/tools/sandboxed.py as a registered sandboxed tool, through
the registry's own ``Tool.run``, and reads the error the model would read. Nothing is faked:
the child is a new Python process, the limits are the kernel's, the listener a real socket.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.tools import sandboxed
from tools.checks import sandbox_isolation
from tools.registry import ToolError, tool, tool_get
from tools.sandbox import Sandbox, namespaces_available

SECRETS = {
    "DJANGO_SECRET_KEY": "not-for-tools",
    "WEBCAP_MODEL_API_KEY": "sk-not-for-tools",
    "DATABASE_URL": "postgres://webcap:hunter2@db/webcap",
}


@pytest.fixture
def register(restored_registry: None) -> Callable[..., Any]:
    """Register functions of tests/tools/sandboxed.py as sandboxed tools for the test."""

    def add(function: Callable[..., Any], *, timeout: float = 5.0, **limits: Any) -> Any:
        name = f"sandboxed_{function.__name__}"
        tool(
            description=function.__doc__ or "",
            name=name,
            timeout=timeout,
            sandbox=Sandbox(**limits),
        )(function)
        found = tool_get(name)
        assert found is not None
        return found

    return add


def _run(found: Any, **arguments: Any) -> Any:
    return found.run(found.validate(arguments))


def _error(found: Any, **arguments: Any) -> str:
    with pytest.raises(ToolError) as raised:
        _run(found, **arguments)
    return str(raised.value)


class Listener:
    """A TCP server on 127.0.0.1 that greets and counts each connection it accepts."""

    def __init__(self) -> None:
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        self.accepted = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.socket.accept()
            except OSError:
                return
            self.accepted += 1
            with connection:
                connection.sendall(b"hello")

    def close(self) -> None:
        self.socket.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = Listener()
    yield server
    server.close()


def test_a_sandboxed_tool_returns_its_json_result(register):
    assert _run(register(sandboxed.words), text="three little words") == 3


def test_a_sandboxed_tool_past_its_deadline_is_stopped(register):
    found = register(sandboxed.nap, timeout=1.0)
    started = time.monotonic()
    assert _error(found, seconds=10) == "stopped after 1 s (limit 1 s)"
    assert time.monotonic() - started < 2.0


def test_a_tool_past_its_memory_limit_is_killed(register):
    found = register(sandboxed.hog, memory_mb=64)
    assert _error(found, megabytes=200) == "killed: exceeded its memory limit of 64 MB"
    assert _run(found, megabytes=8) == 8 * 1024 * 1024  # below it, the same tool runs


def test_a_tool_past_its_cpu_time_is_killed(register):
    found = register(sandboxed.spin, cpu_seconds=1, timeout=5.0)
    started = time.monotonic()
    assert _error(found, seconds=4) == "killed: exceeded its CPU time limit of 1 s"
    assert time.monotonic() - started < 3.0  # the kernel ended it, not the wall deadline


def test_a_tool_past_its_open_files_limit_is_stopped(register):
    found = register(sandboxed.hoard, open_files=16)
    assert _error(found, files=40) == "stopped: exceeded its open-files limit of 16"
    assert _run(found, files=4) == 4


def test_a_sandboxed_tool_does_not_see_webcaps_environment(register, monkeypatch):
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    seen = _run(register(sandboxed.environment))
    assert sorted(seen) == ["HOME", "LANG", "PATH", "TMPDIR"]
    assert seen["PATH"] == "/usr/bin:/bin"
    assert not set(SECRETS.values()) & set(seen.values())


ISOLATIONS = [
    pytest.param(
        "namespace",
        marks=pytest.mark.skipif(
            not namespaces_available(), reason="no unprivileged user namespaces here"
        ),
    ),
    "audit-hook",
]


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_a_sandboxed_tool_cannot_read_the_workers_environment_through_proc(
    register, monkeypatch, settings, isolation
):
    monkeypatch.setenv("DJANGO_SECRET_KEY", SECRETS["DJANGO_SECRET_KEY"])
    settings.WEBCAP_SANDBOX_ISOLATION = isolation
    # The kernel refuses it across user namespaces; the audit hook refuses it otherwise.
    assert _run(register(sandboxed.parent_environment)) == "refused: PermissionError"


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_a_sandboxed_tool_cannot_reach_the_network(register, listener, settings, isolation):
    settings.WEBCAP_SANDBOX_ISOLATION = isolation
    error = _error(register(sandboxed.dial), port=listener.port)
    if isolation == "namespace":
        # Its own network namespace: the loopback there is down, the host's is not there.
        assert error == "the tool failed: OSError: [Errno 101] Network is unreachable"
    else:
        assert error == (
            "the tool failed: PermissionError: network access is not allowed in this sandbox "
            "(socket.getaddrinfo)"
        )
    assert listener.accepted == 0


def test_a_policy_that_allows_the_network_reaches_it(register, listener):
    assert _run(register(sandboxed.dial, network=True), port=listener.port) == "hello"
    assert listener.accepted == 1


def test_the_system_check_says_when_only_the_audit_hook_keeps_tools_off_the_network(
    register, settings
):
    settings.WEBCAP_SANDBOX_ISOLATION = "audit-hook"
    assert sandbox_isolation(None) == []  # no sandboxed tool: nothing to say
    register(sandboxed.words)
    [warning] = sandbox_isolation(None)
    assert warning.id == "webcap.W006"
    assert "(WEBCAP_SANDBOX_ISOLATION=audit-hook)" in warning.msg
    settings.WEBCAP_SANDBOX_ISOLATION = "sometimes"
    [error] = sandbox_isolation(None)
    assert error.id == "webcap.E014"


def test_a_sandboxed_tool_must_be_found_by_module_and_name(register):
    def inner(text: str) -> str:
        return text

    with pytest.raises(ValueError, match="must be a top-level function"):
        tool(description="Nested.", sandbox=Sandbox())(inner)
