"""What a scrape shows, and who may scrape: shared by ``/metrics`` and the worker's endpoint.

Protection: ``METRICS_TOKEN`` asks for ``Authorization: Bearer <token>`` (401 otherwise),
``METRICS_ALLOWED_IPS`` refuses other client addresses (403). With ``PROMETHEUS_MULTIPROC_DIR``
set, each process writes its values to files in that folder and a scrape of any process adds
up the files of all of them (web and worker processes alike); without it, a scrape shows its
own process.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from django.conf import settings
from prometheus_client import REGISTRY, CollectorRegistry, multiprocess
from prometheus_client.core import Metric

from common.metrics import multiprocess_dir
from observability.collector import StateCollector

logger = logging.getLogger(__name__)

CHALLENGE = 'Bearer realm="metrics"'
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class Scrape:
    """What one scrape shows: the stored values (this process, or every process of the
    host in multiprocess mode) and the families computed now."""

    def __init__(self, *, computed: bool = True) -> None:
        self.stored: Any = REGISTRY
        if multiprocess_dir():
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


def address_allowed(address: str | None) -> bool:
    """Return whether METRICS_ALLOWED_IPS lets address scrape (every address when unset)."""
    allowed = [entry for entry in settings.METRICS_ALLOWED_IPS if entry.strip()]
    if not allowed:
        return True
    if address is None:
        return False
    ip = ipaddress.ip_address(address)
    return any(ip in network for network in _networks(tuple(allowed)))


def token_matches(authorization: str) -> bool:
    """Return whether the Authorization header carries METRICS_TOKEN (any header when unset)."""
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
