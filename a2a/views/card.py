"""The public agent card at /.well-known/agent-card.json (and the legacy path)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseNotModified

from a2a.bindings import public_base_url
from a2a.card import rendered_card

JSON = "application/json"


async def agent_card(request: HttpRequest, legacy: bool = False) -> HttpResponse:
    """GET the card with Cache-Control, ETag and Last-Modified (A2A §8.6).

    At the legacy path the card also carries the 0.3 fields (url, preferredTransport, ...).
    """
    if request.method not in ("GET", "HEAD"):
        return HttpResponse(status=405, headers={"Allow": "GET, HEAD"})
    base_url = public_base_url(request.scheme or "http", request.get_host())
    card = rendered_card(base_url, legacy=legacy)
    headers: dict[str, Any] = {
        "Cache-Control": "public, max-age=300",
        "ETag": card.etag,
        "Last-Modified": card.last_modified,
        # The card is public: any origin may read it.
        "Access-Control-Allow-Origin": "*",
    }
    if card.etag in _etags(request.headers.get("If-None-Match", "")):
        return HttpResponseNotModified(headers=headers)
    return HttpResponse(card.body, content_type=JSON, headers=headers)


def _etags(header: str) -> set[str]:
    return {tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()}
