"""The public agent card at /.well-known/agent-card.json (and the legacy path)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseNotModified
from django.utils.http import parse_http_date_safe

from a2a.bindings import public_base_url
from a2a.card import card_last_modified, rendered_card

JSON = "application/json"
# Public: browsers and shared caches (a CDN, a proxy) may keep it this many seconds. The
# extended card (GetExtendedAgentCard) is per caller and is never marked public.
CARD_CACHE_CONTROL = "public, max-age=300"


async def agent_card(request: HttpRequest, legacy: bool = False) -> HttpResponse:
    """GET the card with Cache-Control, ETag and Last-Modified (A2A §8.6).

    At the legacy path the card also carries the 0.3 fields (url, preferredTransport, ...).
    """
    if request.method not in ("GET", "HEAD"):
        return HttpResponse(status=405, headers={"Allow": "GET, HEAD"})
    base_url = public_base_url(request.scheme or "http", request.get_host())
    card = rendered_card(base_url, legacy=legacy)
    last_modified = await card_last_modified(card)
    headers: dict[str, Any] = {
        "Cache-Control": CARD_CACHE_CONTROL,
        "ETag": card.etag,
        "Last-Modified": last_modified,
        # The card is public: any origin may read it.
        "Access-Control-Allow-Origin": "*",
    }
    if _not_modified(request, etag=card.etag, last_modified=last_modified):
        return HttpResponseNotModified(headers=headers)
    return HttpResponse(card.body, content_type=JSON, headers=headers)


def _not_modified(request: HttpRequest, *, etag: str, last_modified: str) -> bool:
    # RFC 9110 §13.2.2: If-None-Match decides when present; If-Modified-Since only without it.
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match is not None:
        tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
        return etag in tags or "*" in tags
    since = parse_http_date_safe(request.headers.get("If-Modified-Since", ""))
    modified = parse_http_date_safe(last_modified)
    return since is not None and modified is not None and modified <= since
