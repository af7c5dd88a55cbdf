"""``GET /metrics``: Prometheus text format, for every process of this host.

What is collected is in ``a2a/metrics.py`` (webcap's families, with ``StateCollector`` for
those read from the database, the broker and the cache at each scrape) and django-prometheus
(HTTP requests per view). With ``PROMETHEUS_MULTIPROC_DIR`` set, each process writes its values
to files in that folder and a scrape of any web process adds up the files of all of them
(web and worker processes alike); without it, the scrape shows this process.

Protection: ``METRICS_TOKEN`` asks for ``Authorization: Bearer <token>`` (401 otherwise),
``METRICS_ALLOWED_IPS`` refuses other client addresses (403). The client address is the one
``common/request_context.py`` found (it honours ``NUM_PROXIES``).
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import threading
from collections.abc import Iterable
from functools import lru_cache
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django_prometheus.middleware import (  # type: ignore[import-untyped]
    PrometheusAfterMiddleware as _AfterMiddleware,
)
from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import Metric
from prometheus_client.exposition import ThreadingWSGIServer

from a2a.metrics import StateCollector, multiprocess_dir, process_stats_refresh
from common.request_context import current_client_ip

logger = logging.getLogger(__name__)

CHALLENGE = 'Bearer realm="metrics"'
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class PrometheusAfterMiddleware(_AfterMiddleware):
    """django-prometheus's last middleware; it also refreshes this process's memory and CPU."""

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        process_stats_refresh()
        result: HttpResponse = super().process_response(request, response)
        return result


class _Scrape:
    """What one scrape shows: the stored values (this process, or every process of the
    host in multiprocess mode) and the families computed now."""

    def __init__(self, *, computed: bool = True) -> None:
        self.stored: Any = REGISTRY
        if multiprocess_dir():
            from prometheus_client import multiprocess

            self.stored = CollectorRegistry()
            multiprocess.MultiProcessCollector(self.stored)  # type: ignore[no-untyped-call]
        self.computed = StateCollector() if computed else None

    def collect(self) -> Iterable[Metric]:
        yield from self.stored.collect()
        if self.computed is not None:
            yield from self.computed.collect()


@lru_cache(maxsize=4)
def _networks(entries: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    # Checked when the settings load (config/settings/base.py): every entry parses.
    return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in entries)


def _address_allowed(address: str | None) -> bool:
    allowed = [entry for entry in settings.METRICS_ALLOWED_IPS if entry.strip()]
    if not allowed:
        return True
    if address is None:
        return False
    ip = ipaddress.ip_address(address)
    return any(ip in network for network in _networks(tuple(allowed)))


def _token_matches(authorization: str) -> bool:
    token: str = settings.METRICS_TOKEN
    if not token:
        return True
    scheme, _, given = authorization.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


def metrics_public_warn() -> None:
    """Log a warning when /metrics is served unprotected in production mode."""
    if not settings.EMBEDDED and not settings.METRICS_TOKEN and not settings.METRICS_ALLOWED_IPS:
        logger.warning(
            "/metrics is public: set METRICS_TOKEN or METRICS_ALLOWED_IPS to restrict it"
        )


@csrf_exempt
def metrics(request: HttpRequest) -> HttpResponse:
    """GET /metrics: every metric family in Prometheus text format."""
    if request.method != "GET":
        return HttpResponse("Use GET.\n", status=405, headers={"Allow": "GET"})
    if not _address_allowed(current_client_ip()):
        return HttpResponse("Forbidden.\n", status=403, content_type="text/plain")
    if not _token_matches(request.headers.get("Authorization", "")):
        return HttpResponse(
            "Send 'Authorization: Bearer <METRICS_TOKEN>'.\n",
            status=401,
            content_type="text/plain",
            headers={"WWW-Authenticate": CHALLENGE},
        )
    process_stats_refresh()
    body = generate_latest(_Scrape())
    return HttpResponse(body, content_type=CONTENT_TYPE_PLAIN_0_0_4)


metrics_public_warn()


# --- The worker's own endpoint --------------------------------------------------------------------


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Keep scrapes out of the log (one line per scrape and target otherwise)."""


def worker_metrics_app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    """The WSGI app a Celery worker serves its processes' values with (same protection)."""
    if environ.get("PATH_INFO", "/") not in ("/", "/metrics"):
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"Not found: scrape /metrics.\n"]
    if not _address_allowed(environ.get("REMOTE_ADDR")):
        start_response("403 Forbidden", [("Content-Type", "text/plain")])
        return [b"Forbidden.\n"]
    if not _token_matches(environ.get("HTTP_AUTHORIZATION", "")):
        start_response(
            "401 Unauthorized",
            [("Content-Type", "text/plain"), ("WWW-Authenticate", CHALLENGE)],
        )
        return [b"Send 'Authorization: Bearer <METRICS_TOKEN>'.\n"]
    process_stats_refresh()
    # Only the stored values: the families read from the database at scrape time come from
    # the web processes, so a sum over web and worker targets never counts them twice.
    body = generate_latest(_Scrape(computed=False))
    start_response("200 OK", [("Content-Type", CONTENT_TYPE_PLAIN_0_0_4)])
    return [body]


def worker_metrics_serve(port: int, host: str = "0.0.0.0") -> WSGIServer:  # noqa: S104
    """Serve ``worker_metrics_app`` on port in a daemon thread; return the server."""
    server = make_server(host, port, worker_metrics_app, ThreadingWSGIServer, _QuietHandler)
    threading.Thread(target=server.serve_forever, name="worker-metrics", daemon=True).start()
    logger.info("Worker metrics served on %s:%d/metrics", host, server.server_port)
    return server
