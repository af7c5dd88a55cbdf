"""A busy port is an error: ``runembedded`` and ``make run`` exit non-zero and say what to do.

Each test holds a real listening socket on a free loopback port and starts webcap on it.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.live.server import (
    ROOT,
    free_port,
    manage_stdout,
    run_manage,
    run_python,
    stop_process,
    webcap_env,
)

pytestmark = pytest.mark.live


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A loopback port another server listens on (bound as Twisted binds, SO_REUSEADDR)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield int(listener.getsockname()[1])


def _assert_refused(output: str, port: int) -> None:
    assert (
        f"CommandError: Cannot listen on 127.0.0.1:{port}: the port is already in use by "
        "another server (perhaps a webcap started earlier). Stop that server, or serve on "
        "another port"
    ) in output
    assert "make run, or manage.py runembedded --port " in output
    assert "webcap serving" not in output


def test_runembedded_refuses_a_busy_port_before_starting_anything(busy_port, tmp_path):
    result = run_manage(webcap_env(tmp_path), "runembedded", "--port", str(busy_port), timeout=60)

    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout == ""
    _assert_refused(result.stderr, busy_port)
    # Refused before the worker (which would re-queue the other server's tasks) started.
    assert "Embedded worker started" not in result.stderr
    # The port it suggests instead is one that is free.
    suggested = int(result.stderr.split("PORT=")[1].split()[0])
    assert suggested > busy_port
    assert f"(port {suggested} is free): PORT={suggested} make run" in result.stderr
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", suggested))


def test_a_port_lost_after_the_check_is_still_an_error(busy_port, tmp_path):
    """daphne's own listen failure (another server bound first) ends the command with 1."""
    env = webcap_env(tmp_path)
    manage_stdout(env, "migrate", "--noinput", "-v", "0")
    code = textwrap.dedent(
        f"""
        import django
        django.setup()
        from django.core.management import execute_from_command_line
        from a2a.management.commands import runembedded
        runembedded.listen_problem = lambda host, port: None  # the race: free when checked
        execute_from_command_line(["manage.py", "runembedded", "--port", "{busy_port}"])
        """
    )
    result = run_python(env, code, timeout=90)

    assert result.returncode == 1, result.stdout + result.stderr
    assert "Listen failure" in result.stderr  # daphne's own line, then ours
    _assert_refused(result.stderr, busy_port)
    assert "webcap serving" not in result.stdout


def test_make_run_fails_when_the_port_is_busy(busy_port, tmp_path):
    # The recipe alone, with this interpreter: no install step (-o), the test's own var/.
    result = subprocess.run(
        [
            "make",
            "-C",
            str(ROOT),
            "-o",
            ".venv/.installed-base",
            f"BIN={Path(sys.executable).parent}",
            f"PORT={busy_port}",
            "run",
        ],
        # As a person runs it: not a sub-make of the `make test` that may be running this.
        env={
            name: value
            for name, value in webcap_env(tmp_path).items()
            if name not in {"MAKELEVEL", "MAKEFLAGS", "MFLAGS"}
        },
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert result.returncode != 0, result.stdout + result.stderr
    _assert_refused(result.stderr, busy_port)
    assert "make: *** [Makefile" in result.stderr
    assert "webcap serving" not in result.stdout


def test_serving_is_printed_once_the_port_listens(tmp_path):
    env = webcap_env(tmp_path, PYTHONUNBUFFERED="1")
    manage_stdout(env, "migrate", "--noinput", "-v", "0")
    port = free_port()
    with (tmp_path / "server.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "runembedded", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=log,
            start_new_session=True,
        )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().decode()
        assert line == f"webcap serving on http://127.0.0.1:{port} (embedded mode)\n"
        # No retry: the line was printed after the port listened.
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    finally:
        stop_process(process)
        if process.stdout is not None:
            process.stdout.close()
