"""The site's own pages, which belong to no app: the landing page at ``/``, and the management
API's index (``/api/``) and documentation (Swagger UI at ``/api/docs/``, Redoc at
``/api/redoc/``, both on the schema at ``/api/schema/``).

Swagger UI and Redoc come from drf-spectacular-sidecar and are served as static files by webcap
itself: no page loads anything from another origin. Each page carries a Content-Security-Policy
that says so (``PAGE_POLICY``): scripts from this origin only and no inline script (Swagger UI's
initializer is a script of its own, ``/api/docs/?script=``).
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe
from drf_spectacular.settings import spectacular_settings
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularRedocView,
    SpectacularSwaggerSplitView,
)
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from a2a.bindings import public_base_url
from a2a.card import CAPNWEB_BINDING, WEBCAP_VERSION, WEBSOCKET_BINDING, rendered_card

# Everything from this origin; styles may be inline (Redoc and Swagger UI set styles from
# script), images may be data: URLs (their icons), Redoc's search runs in a blob: worker.
PAGE_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "worker-src 'self' blob:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
POLICY_HEADER = "Content-Security-Policy"
API_PREFIX = "/api/"
# The names the card gives its bindings, for people.
BINDING_NAMES = {
    "JSONRPC": "JSON-RPC (answers streamed as SSE)",
    "HTTP+JSON": "HTTP+JSON (REST, streamed as SSE)",
    WEBSOCKET_BINDING: "WebSocket (JSON-RPC frames)",
    CAPNWEB_BINDING: "Cap'n Web (WebSocket)",
}


@require_safe
def home(request: HttpRequest) -> HttpResponse:
    """GET /: what this server is, where its A2A bindings are, and links to its pages."""
    base_url = public_base_url(request.scheme or "http", request.get_host())
    card = json.loads(rendered_card(base_url).body)
    interfaces = [
        {
            "name": BINDING_NAMES.get(interface["protocolBinding"], interface["protocolBinding"]),
            "version": interface["protocolVersion"],
            "url": interface["url"],
        }
        for interface in card["supportedInterfaces"]
    ]
    context = {
        "card": card,
        "interfaces": interfaces,
        "version": WEBCAP_VERSION,
        "mode": "embedded" if settings.EMBEDDED else "production",
        "agent": settings.WEBCAP_AGENT,
    }
    response = render(request, "home.html", context)
    response[POLICY_HEADER] = PAGE_POLICY
    return response


@cache
def api_paths() -> dict[str, list[str]]:
    """Return each path of the management API with its methods, from the OpenAPI schema."""
    generator = SpectacularAPIView.generator_class()
    schema = generator.get_schema(  # type: ignore[no-untyped-call]
        request=None, public=SpectacularAPIView.serve_public
    )
    return {
        path: sorted(method.upper() for method in operations)
        for path, operations in sorted(schema["paths"].items())
        if path.startswith(API_PREFIX)
    }


class ApiIndexView(APIView):
    """GET /api/: where the documentation, the schema and every endpoint of the API are."""

    # As public as the schema it points to (SPECTACULAR_SETTINGS' SERVE_PERMISSIONS).
    authentication_classes = SpectacularAPIView.authentication_classes
    permission_classes = SpectacularAPIView.permission_classes

    @extend_schema(exclude=True)
    def get(self, request: Request) -> Response:
        return Response(
            {
                "name": spectacular_settings.TITLE,
                "version": WEBCAP_VERSION,
                "docs": f"{API_PREFIX}docs/",
                "redoc": f"{API_PREFIX}redoc/",
                "schema": f"{API_PREFIX}schema/",
                "authentication": [
                    "Authorization: Bearer <access token from /api/auth/token/, or API key>",
                    "X-API-Key: <API key>",
                ],
                "endpoints": api_paths(),
            }
        )


class _PagePolicy(APIView):
    """Send PAGE_POLICY with the page (a base for DRF views)."""

    def finalize_response(
        self, request: Request, response: Response, *args: Any, **kwargs: Any
    ) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)
        response[POLICY_HEADER] = PAGE_POLICY
        return response


class ApiDocsView(_PagePolicy, SpectacularSwaggerSplitView):
    """GET /api/docs/: Swagger UI on /api/schema/; its initializer is /api/docs/?script=."""

    url_name = "api-schema"


class ApiRedocView(_PagePolicy, SpectacularRedocView):
    """GET /api/redoc/: Redoc on /api/schema/ (without the web fonts it would fetch)."""

    url_name = "api-schema"
    template_name = "api/redoc.html"
