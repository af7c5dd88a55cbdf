"""``manage.py runembedded``: serve webcap in one process (daphne + an in-process worker)."""

from __future__ import annotations

import argparse
import errno
import ipaddress
import socket
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

# How many ports after a busy one are tried for the suggestion in the error.
PORTS_TO_SUGGEST_FROM = 20


def port_number(value: str) -> int:
    """Parse --port: a TCP port, 1 to 65535."""
    try:
        port = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a port number") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port number (1-65535)")
    return port


class Command(BaseCommand):
    help = "Serve HTTP and WebSocket with daphne and run jobs in an in-process Celery worker."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=port_number, default=8000)

    def handle(self, *args: Any, host: str, port: int, **options: Any) -> None:
        if not settings.EMBEDDED:
            raise CommandError(
                "runembedded is for the embedded mode; with REDIS_URL set, run the Procfile's "
                "web and worker processes instead."
            )
        # Before the worker starts: it re-queues the unfinished tasks of the database, which
        # a server already running on this port (on the same database) is working on.
        problem = listen_problem(host, port)
        if problem is not None:
            raise CommandError(problem)
        # daphne.server first: importing it installs Twisted's asyncio reactor.
        from daphne.endpoints import build_endpoint_description_strings
        from daphne.server import Server

        from a2a.services.artifacts import artifacts_served_at
        from config.asgi import application
        from config.embedded import install_into_daphne

        command = self

        class EmbeddedServer(Server):
            """daphne's server that says "serving" once it listens, and keeps why it could not."""

            failure: OSError | str | None = None  # why it could not listen

            def listen_success(self, listening_port: Any) -> None:
                super().listen_success(listening_port)
                command.stdout.write(
                    f"webcap serving on http://{host}:{port} (embedded mode)", ending="\n"
                )
                command.stdout.flush()

            def listen_error(self, failure: Any) -> None:
                # Twisted's CannotListenError carries the OSError of the bind.
                self.failure = getattr(failure.value, "socketError", None)
                if not isinstance(self.failure, OSError):
                    self.failure = failure.getErrorMessage()
                super().listen_error(failure)

        install_into_daphne()
        # Web and worker share this process: the worker's file URLs point at this server.
        artifacts_served_at(_local_url(host, port))
        server = EmbeddedServer(
            application=application,
            endpoints=build_endpoint_description_strings(host=host, port=port),
            signal_handlers=True,
            # Streams are long-lived: no HTTP timeout; sockets are pinged while idle.
            http_timeout=None,
            ping_interval=20,
            ping_timeout=30,
            application_close_timeout=10,
            # Daphne's own 1 MiB default would close sockets far below the configured limit.
            websocket_max_message_size=settings.WEBCAP_MAX_REQUEST_BYTES,
            websocket_max_frame_size=settings.WEBCAP_MAX_REQUEST_BYTES,
        )
        server.run()
        if server.failure is not None:
            # Taken between the check above and daphne's own bind.
            raise CommandError(_explain(host, port, server.failure))


def listen_problem(host: str, port: int) -> str | None:
    """Return why this process cannot listen on host:port now, and what to do; None if it can."""
    error = _bind_error(host, port)
    return None if error is None else _explain(host, port, error)


def _bind_error(host: str, port: int) -> OSError | None:
    """Bind host:port as Twisted will, let go, and return what failed (None: nothing)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        with socket.socket(family, kind, proto) as probe:
            # As Twisted does: a connection of an earlier server still closing (TIME_WAIT)
            # does not count; a server listening there does.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except OSError as exc:  # socket.gaierror included: a name that does not resolve
        return exc
    return None


def _explain(host: str, port: int, error: OSError | str) -> str:
    """Say why host:port cannot be listened on, and what to do instead."""
    cannot = f"Cannot listen on {host}:{port}"
    if isinstance(error, str):
        return f"{cannot}: {error}"
    if error.errno == errno.EADDRINUSE:
        last = min(port + PORTS_TO_SUGGEST_FROM, 65535)
        free = next((p for p in range(port + 1, last + 1) if _bind_error(host, p) is None), None)
        other = f" (port {free} is free)" if free is not None else ""
        suggestion = free or "<another port>"
        return (
            f"{cannot}: the port is already in use by another server (perhaps a webcap "
            f"started earlier). Stop that server, or serve on another port{other}: "
            f"PORT={suggestion} make run, or manage.py runembedded --port {suggestion}"
        )
    if error.errno == errno.EACCES:
        return (
            f"{cannot}: permission denied (ports below 1024 need privileges). Serve on a "
            f"higher port: PORT=8000 make run, or manage.py runembedded --port 8000"
        )
    if isinstance(error, socket.gaierror) or error.errno == errno.EADDRNOTAVAIL:
        return (
            f"{cannot}: {host} is not an address of this machine. Serve on one that is: "
            f"HOST=127.0.0.1 make run, or manage.py runembedded --host 127.0.0.1"
        )
    return f"{cannot}: {error.strerror or error}"


def _local_url(host: str, port: int) -> str:
    """Return the URL this process answers on (loopback when it listens on every address)."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return f"http://{host}:{port}"  # a name
    if address.is_unspecified:
        return f"http://127.0.0.1:{port}"
    return f"http://[{address}]:{port}" if address.version == 6 else f"http://{address}:{port}"
