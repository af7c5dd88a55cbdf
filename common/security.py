"""The security headers on every response webcap gives, and query strings it cannot store.

``SecurityHeadersMiddleware`` runs outside every other layer (only the request metrics wrap
it), so the health probes' early answers, a 413 for a body too large and a 503 for a lost
database carry the same headers as a view's answer:

- ``Content-Security-Policy``: a page (HTML) may load scripts, styles, images and fonts from
  this origin only and run no inline script (``PAGE_POLICY``); anything else (JSON, SSE,
  metrics) may load nothing at all (``DATA_POLICY``). A response that sets its own policy
  (a stored file's ``sandbox``) keeps it.
- ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: same-origin``,
  ``Cross-Origin-Opener-Policy: same-origin`` and ``X-Frame-Options: DENY`` (unless a view
  is ``xframe_options_exempt``).

Django's SecurityMiddleware stays for what depends on settings (HSTS, the HTTPS redirect).

``NulCharacterMiddleware`` refuses a path or query string holding a NUL character
(``%00``): no parameter accepts one, and PostgreSQL cannot compare text with it.
"""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.http.response import HttpResponseBase
from django.utils.deprecation import MiddlewareMixin

# Everything from this origin; styles may be inline (Redoc and Swagger UI set styles from
# script, the admin has style attributes), images may be data: URLs (their icons), Redoc's
# search runs in a blob: worker.
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
# A response that is not a page never loads anything, and no page may frame it.
DATA_POLICY = "default-src 'none'; frame-ancestors 'none'"
POLICY_HEADER = "Content-Security-Policy"

FIXED_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
)


def security_headers_add(response: HttpResponseBase) -> HttpResponseBase:
    """Give response every security header it does not set itself; return it."""
    headers = response.headers
    for name, value in FIXED_HEADERS:
        headers.setdefault(name, value)
    if not getattr(response, "xframe_options_exempt", False):
        headers.setdefault("X-Frame-Options", "DENY")
    if POLICY_HEADER not in headers:
        page = headers.get("Content-Type", "").startswith("text/html")
        headers[POLICY_HEADER] = PAGE_POLICY if page else DATA_POLICY
    return response


class SecurityHeadersMiddleware(MiddlewareMixin):
    """Put the security headers on every response (sync and async)."""

    def process_response(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        return security_headers_add(response)


class NulCharacterMiddleware(MiddlewareMixin):
    """Refuse a path or query string with a NUL character: 400, naming the rule."""

    def process_request(self, request: HttpRequest) -> HttpResponseBase | None:
        query = request.META.get("QUERY_STRING", "")
        if "\x00" in request.path or "%00" in query or "\x00" in query:
            return JsonResponse(
                {"detail": "The URL holds a NUL character (%00); no path or parameter takes one."},
                status=400,
            )
        return None
