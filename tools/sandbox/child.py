"""The sandbox child: run one tool function under limits and write its outcome as JSON.

Started by ``tools.sandbox.sandbox_run`` as ``python -I child.py`` with a clean environment,
in its own session. It reads one JSON request on stdin (the tool's module and function, the
arguments, the limits, the Python path, how to keep it off the network), cuts itself off the
network, sets its resource limits, and only then imports the tool's module and calls it. The
outcome goes to the file descriptor that was stdout; the tool's own prints go to stderr.

Standard library only, and nothing of webcap: this file runs before anything else is
imported, in a process that has no settings and no secrets. With ``--probe`` it only says
(exit status 0) whether this machine lets it enter a new user and network namespace.
"""

from __future__ import annotations

import ctypes
import errno
import importlib
import json
import os
import resource
import sys
import traceback
from typing import Any

# linux/sched.h
CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
# Exit statuses the parent reads (tools/sandbox/__init__.py keeps the same numbers).
EXIT_MEMORY = 71
EXIT_NETWORK_SETUP = 72
# Audit events refused when the network is blocked by the audit hook instead of a namespace:
# sockets, name lookups, and new programs (which the hook would not follow).
BLOCKED_EVENTS = frozenset(
    {
        "socket.__new__",
        "socket.connect",
        "socket.bind",
        "socket.getaddrinfo",
        "socket.gethostbyname",
        "socket.gethostbyaddr",
        "socket.sendto",
        "socket.sendmsg",
        "subprocess.Popen",
        "os.system",
        "os.exec",
        "os.posix_spawn",
        "os.spawn",
        "os.fork",
        "os.forkpty",
        "ctypes.dlopen",
    }
)


def enter_network_namespace() -> str | None:
    """Unshare a user and a network namespace; return why not, or None on success.

    In the new network namespace the only interface is a loopback that is down, so no
    address, not even 127.0.0.1 of the host, can be reached. Python 3.11 has no
    os.unshare, hence libc through ctypes (before the audit hook would refuse it).
    """
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWUSER | CLONE_NEWNET) != 0:
        return os.strerror(ctypes.get_errno())
    return None


def _foreign_proc(path: Any) -> bool:
    """Whether path is under /proc but not this process's own entry (another's environment).

    In a user namespace of its own the kernel already refuses that; without one, it is the
    worker's environment (secrets) one open() away.
    """
    if not isinstance(path, (str, bytes)):
        return False
    parts = os.path.realpath(os.fsdecode(path)).split("/")
    own = {"self", "thread-self", str(os.getpid())}
    return len(parts) > 2 and parts[1] == "proc" and parts[2].isdigit() and parts[2] not in own


def _refuse_network(event: str, args: tuple[Any, ...]) -> None:
    if event in BLOCKED_EVENTS:
        raise PermissionError(f"network access is not allowed in this sandbox ({event})")
    if event == "open" and args and _foreign_proc(args[0]):
        raise PermissionError("other processes are not readable in this sandbox")


def _set_limits(limits: dict[str, int]) -> None:
    # The CPU limit's soft value sends SIGXCPU (the default action ends the process), the
    # hard value one second later SIGKILL. No core files.
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    cpu = limits["cpu_seconds"]
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    memory = limits["memory_mb"] * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    files = limits["open_files"]
    resource.setrlimit(resource.RLIMIT_NOFILE, (files, files))


def _outcome(request: dict[str, Any]) -> dict[str, Any]:
    """Run the tool; return {"result": ...} or {"error": "..."} for the parent."""
    try:
        module = importlib.import_module(request["module"])
        function = getattr(module, request["function"])
        result = function(**request["arguments"])
        return {"result": json.loads(json.dumps(result, default=str))}
    except MemoryError:
        raise
    except OSError as exc:
        if exc.errno in (errno.EMFILE, errno.ENFILE):
            return {"error": "too-many-files"}
        traceback.print_exc()
        return {"error": f"the tool failed: {type(exc).__name__}: {exc}"}
    except Exception as exc:
        traceback.print_exc()
        # A ToolError (by name: this process does not import webcap) is the tool's own
        # message for the model; anything else says only what kind of failure it was.
        if type(exc).__name__ == "ToolError":
            return {"error": str(exc)}
        return {"error": f"the tool failed: {type(exc).__name__}: {exc}"}


def main() -> int:
    """Run the request on stdin; the outcome is written to the original stdout."""
    if sys.argv[1:] == ["--probe"]:
        return 0 if enter_network_namespace() is None else 1
    request = json.loads(sys.stdin.read())
    # The outcome channel is the original stdout; what the tool prints goes to stderr.
    channel = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    if not request["network"]:
        if request["isolation"] == "namespace":
            problem = enter_network_namespace()
            if problem is not None:
                sys.stderr.write(f"unshare failed: {problem}\n")
                return EXIT_NETWORK_SETUP
        else:
            sys.addaudithook(_refuse_network)
    sys.path[:] = request["path"]
    _set_limits(request["limits"])
    try:
        outcome = _outcome(request)
        text = json.dumps(outcome)
    except MemoryError:
        os._exit(EXIT_MEMORY)
    channel.write(text)
    channel.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
