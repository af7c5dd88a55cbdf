"""The sandbox: run a tool function that is not webcap's own in a child process with limits.

A sandboxed call runs in a new Python process (``tools/sandbox/child.py``) in its own session,
started with a clean environment (a minimal PATH, LANG, HOME and TMPDIR of its own, nothing
else: no DJANGO_SECRET_KEY, no WEBCAP_*, no DATABASE_URL), limited in CPU time, memory
(address space) and open files, and kept off the network unless its policy allows it. The
parent kills the child's whole process group when it overruns its wall-clock deadline. The
arguments and the result cross the process boundary as JSON.

The function is named by its module and name (``function.__module__``, ``__qualname__``);
the child imports only that module, which therefore must import without Django or webcap.

Pure: no settings, no Django; the registry passes the isolation mode it was configured with.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

logger = logging.getLogger(__name__)

CHILD = Path(__file__).with_name("child.py")
# The same numbers as in child.py.
EXIT_MEMORY = 71
EXIT_NETWORK_SETUP = 72
# How the child is kept off the network: a user + network namespace of its own (only a
# loopback that is down), or a Python audit hook that refuses sockets (weaker: code that
# reaches libc directly is not stopped, which is why the hook also refuses ctypes).
Isolation = Literal["namespace", "audit-hook"]
# How much of the child's stderr is logged when it fails.
STDERR_TAIL = 2000


class SandboxError(Exception):
    """The sandboxed call did not return a result; the message is for the model."""


@dataclass(frozen=True)
class Sandbox:
    """The limits a sandboxed tool runs under (the wall-clock limit is the tool's timeout)."""

    # Seconds of CPU time; past them the kernel ends the child (SIGXCPU, then SIGKILL).
    cpu_seconds: int = 10
    # Address space of the child in MB (the interpreter itself takes about 20-30 MB).
    memory_mb: int = 256
    # Open file descriptors, the three standard ones included.
    open_files: int = 64
    # Whether the child may reach the network at all.
    network: bool = False


@functools.cache
def namespaces_available() -> bool:
    """Return whether this machine lets an unprivileged process enter a new user+network
    namespace (probed once per process, by a child that tries)."""
    try:
        probe = subprocess.run(  # noqa: S603 - our own argv, no shell
            [sys.executable, "-I", str(CHILD), "--probe"],
            env=_clean_environment(tempfile.gettempdir()),
            capture_output=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0


def isolation_active(configured: str) -> Isolation:
    """Return the isolation a configured mode ("auto", "namespace", "audit-hook") gives here."""
    if configured == "audit-hook":
        return "audit-hook"
    if configured == "namespace" or namespaces_available():
        return "namespace"
    return "audit-hook"


def _clean_environment(home: str) -> dict[str, str]:
    return {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": home, "TMPDIR": home}


def _seconds(value: float) -> str:
    return f"{round(value, 1):g}"


def sandbox_run(
    *,
    module: str,
    function: str,
    arguments: dict[str, Any],
    policy: Sandbox,
    timeout: float,
    limit: float,
    isolation: Isolation,
) -> Any:
    """Run module.function(**arguments) in a sandboxed child; return its JSON result.

    ``timeout`` is the wall-clock time left for the call, ``limit`` the tool's whole limit
    (for the message). Raise SandboxError with a message for the model when the child is
    stopped, killed, or the function fails.
    """
    request = {
        "module": module,
        "function": function,
        "arguments": arguments,
        # Absolute: the child runs in a folder of its own ("" would mean that folder).
        "path": [os.path.abspath(p or os.curdir) for p in sys.path],
        "network": policy.network,
        "isolation": isolation,
        "limits": {
            "cpu_seconds": policy.cpu_seconds,
            "memory_mb": policy.memory_mb,
            "open_files": policy.open_files,
        },
    }
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="webcap-sandbox-") as home:
        child = subprocess.Popen(  # noqa: S603 - our own argv, no shell
            [sys.executable, "-I", str(CHILD)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=_clean_environment(home),
            cwd=home,
            close_fds=True,
            # Its own process group, so the kill reaches whatever it started.
            start_new_session=True,
        )
        try:
            output, errors = child.communicate(json.dumps(request).encode(), timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill(child)
            # Counted from the call's start: ``limit - timeout`` had passed before the child.
            spent = limit - timeout + time.monotonic() - started
            raise SandboxError(
                f"stopped after {_seconds(spent)} s (limit {_seconds(limit)} s)"
            ) from None
        except BaseException:
            _kill(child)
            raise
        finally:
            # Whatever the child left behind in its group goes with it.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child.pid, signal.SIGKILL)
    return _outcome(child.returncode, output, errors, policy)


def _kill(child: subprocess.Popen[bytes]) -> None:
    """Kill the child's process group and reap the child."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.pid, signal.SIGKILL)
    try:
        child.communicate(timeout=1)
    except subprocess.TimeoutExpired:
        # A process that left the group (setsid) still holds the pipes: stop reading them.
        for pipe in (child.stdout, child.stderr):
            if pipe is not None:
                pipe.close()
        child.wait()


def _outcome(returncode: int, output: bytes, errors: bytes, policy: Sandbox) -> Any:
    """Map how the child ended to its result or to a SandboxError for the model."""
    tail = errors.decode(errors="replace")[-STDERR_TAIL:]
    if returncode == 0:
        outcome = json.loads(output)
        if "result" in outcome:
            return outcome["result"]
        if outcome["error"] == "too-many-files":
            raise SandboxError(f"stopped: exceeded its open-files limit of {policy.open_files}")
        logger.info("Sandboxed tool failed: %s", tail)
        raise SandboxError(outcome["error"])
    logger.warning("Sandboxed tool ended with status %s: %s", returncode, tail)
    if returncode == EXIT_MEMORY or (returncode == 1 and "MemoryError" in tail):
        raise SandboxError(f"killed: exceeded its memory limit of {policy.memory_mb} MB")
    if returncode == -signal.SIGXCPU:
        raise SandboxError(f"killed: exceeded its CPU time limit of {policy.cpu_seconds} s")
    if returncode == -signal.SIGKILL:
        # The CPU limit's hard value, or the kernel's out-of-memory killer: both send SIGKILL.
        raise SandboxError(
            f"killed: exceeded its CPU time limit of {policy.cpu_seconds} s, "
            "or the machine ran out of memory"
        )
    if returncode == EXIT_NETWORK_SETUP:
        raise SandboxError("the sandbox could not cut the tool off the network; it did not run")
    if returncode < 0:
        raise SandboxError(f"killed by signal {signal.Signals(-returncode).name}")
    raise SandboxError(f"the sandboxed tool exited with status {returncode}")
