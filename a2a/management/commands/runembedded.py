"""``manage.py runembedded``: serve webcap in one process (daphne + an in-process worker)."""

from __future__ import annotations

import ipaddress
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser


class Command(BaseCommand):
    help = "Serve HTTP and WebSocket with daphne and run jobs in an in-process Celery worker."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)

    def handle(self, *args: Any, host: str, port: int, **options: Any) -> None:
        if not settings.EMBEDDED:
            raise CommandError(
                "runembedded is for the embedded mode; with REDIS_URL set, run the Procfile's "
                "web and worker processes instead."
            )
        # daphne.server first: importing it installs Twisted's asyncio reactor.
        from daphne.endpoints import build_endpoint_description_strings
        from daphne.server import Server

        from a2a.services.artifacts import artifacts_served_at
        from config.asgi import application
        from config.embedded import install_into_daphne

        install_into_daphne()
        # Web and worker share this process: the worker's file URLs point at this server.
        artifacts_served_at(_local_url(host, port))
        self.stdout.write(f"webcap serving on http://{host}:{port} (embedded mode)", ending="\n")
        self.stdout.flush()
        Server(
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
        ).run()


def _local_url(host: str, port: int) -> str:
    """Return the URL this process answers on (loopback when it listens on every address)."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return f"http://{host}:{port}"  # a name
    if address.is_unspecified:
        return f"http://127.0.0.1:{port}"
    return f"http://[{address}]:{port}" if address.version == 6 else f"http://{address}:{port}"
