"""``GET /metrics``: Prometheus text format, for every process of this host.

What is collected: each app's families (``a2a/metrics.py``, ``tools/metrics.py``,
``common/metrics.py``, the job families in ``observability/workers.py``), the ones read from the
database, the broker and the cache at each scrape (``observability/collector.py``) and
django-prometheus's (HTTP requests per view). Who may scrape is in ``observability/scrape.py``;
the client address is the one ``common/request_context.py`` found (it honours ``NUM_PROXIES``).
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4, generate_latest

from common.metrics import process_stats_refresh
from common.request_context import current_client_ip
from observability.scrape import (
    CHALLENGE,
    Scrape,
    address_allowed,
    metrics_public_warn,
    token_matches,
)


@csrf_exempt
def metrics(request: HttpRequest) -> HttpResponse:
    """GET /metrics: every metric family in Prometheus text format."""
    if request.method != "GET":
        return HttpResponse("Use GET.\n", status=405, headers={"Allow": "GET"})
    if not address_allowed(current_client_ip()):
        return HttpResponse("Forbidden.\n", status=403, content_type="text/plain")
    if not token_matches(request.headers.get("Authorization", "")):
        return HttpResponse(
            "Send 'Authorization: Bearer <METRICS_TOKEN>'.\n",
            status=401,
            content_type="text/plain",
            headers={"WWW-Authenticate": CHALLENGE},
        )
    process_stats_refresh()
    body = generate_latest(Scrape())
    return HttpResponse(body, content_type=CONTENT_TYPE_PLAIN_0_0_4)


metrics_public_warn()
