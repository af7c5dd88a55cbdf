"""The site's own pages, which belong to no app: the landing page at ``/``, and the management
API's index (``/api/``) and documentation (Swagger UI at ``/api/docs/``, Redoc at
``/api/redoc/``, both on the schema at ``/api/schema/``).

Swagger UI and Redoc come from drf-spectacular-sidecar and are served as static files by webcap
itself: no page loads anything from another origin. Each page carries the Content-Security-Policy
every page of webcap gets (common/security.py): scripts from this origin only and no inline
script (Swagger UI's initializer is a script of its own, ``/api/docs/?script=``).
"""

from __future__ import annotations

import json
from functools import cache

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.views.decorators.http import require_safe
from django.views.defaults import page_not_found
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

API_PREFIX = "/api/"
# The names the card gives its bindings, for people.
BINDING_NAMES = {
    "JSONRPC": "JSON-RPC (answers streamed as SSE)",
    "HTTP+JSON": "HTTP+JSON (REST, streamed as SSE)",
    WEBSOCKET_BINDING: "WebSocket (JSON-RPC frames)",
    CAPNWEB_BINDING: "Cap'n Web (WebSocket)",
}


# Paths whose clients are programs: a path that matches no route is answered in JSON there.
JSON_PREFIXES = ("/api/", "/a2a/", "/.well-known/")


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponseBase:
    """handler404: JSON under the API prefixes, Django's page anywhere else."""
    if request.path.startswith(JSON_PREFIXES):
        return JsonResponse({"detail": f"Nothing is at {request.path[:200]}"}, status=404)
    return page_not_found(request, exception or Http404())


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
    return render(request, "home.html", context)


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


class ApiDocsView(SpectacularSwaggerSplitView):
    """GET /api/docs/: Swagger UI on /api/schema/; its initializer is /api/docs/?script=."""

    url_name = "api-schema"


class ApiRedocView(SpectacularRedocView):
    """GET /api/redoc/: Redoc on /api/schema/ (without the web fonts it would fetch)."""

    url_name = "api-schema"
    template_name = "api/redoc.html"
