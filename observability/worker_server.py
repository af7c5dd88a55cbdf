"""The endpoint a Celery worker on a host of its own serves (``METRICS_WORKER_PORT``).

Web processes cannot read such a worker's multiprocess files, so the worker serves its
processes' values itself, with the same protection as ``/metrics``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.exposition import ThreadingWSGIServer

from common.metrics import process_stats_refresh
from observability.scrape import (
    CHALLENGE,
    Scrape,
    address_allowed,
    metrics_public_warn,
    token_matches,
)

logger = logging.getLogger(__name__)


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Keep scrapes out of the log (one line per scrape and target otherwise)."""


def worker_metrics_app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    """The WSGI app a Celery worker serves its processes' values with (same protection)."""
    if environ.get("PATH_INFO", "/") not in ("/", "/metrics"):
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"Not found: scrape /metrics.\n"]
    if not address_allowed(environ.get("REMOTE_ADDR")):
        start_response("403 Forbidden", [("Content-Type", "text/plain")])
        return [b"Forbidden.\n"]
    if not token_matches(environ.get("HTTP_AUTHORIZATION", "")):
        start_response(
            "401 Unauthorized",
            [("Content-Type", "text/plain"), ("WWW-Authenticate", CHALLENGE)],
        )
        return [b"Send 'Authorization: Bearer <METRICS_TOKEN>'.\n"]
    process_stats_refresh()
    # Only the stored values: the families read from the database at scrape time come from
    # the web processes, so a sum over web and worker targets never counts them twice.
    body = generate_latest(Scrape(computed=False))
    start_response("200 OK", [("Content-Type", CONTENT_TYPE_PLAIN_0_0_4)])
    return [body]


def worker_metrics_serve(port: int, host: str = "0.0.0.0") -> WSGIServer:  # noqa: S104
    """Serve ``worker_metrics_app`` on port in a daemon thread; return the server."""
    metrics_public_warn()
    server = make_server(host, port, worker_metrics_app, ThreadingWSGIServer, _QuietHandler)
    threading.Thread(target=server.serve_forever, name="worker-metrics", daemon=True).start()
    logger.info("Worker metrics served on %s:%d/metrics", host, server.server_port)
    return server
