"""The public keys that sign the agent card, at /.well-known/jwks.json (A2A §8.4.2's jku)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseNotModified, JsonResponse

from a2a.signing import rendered_jwks

JWKS_CONTENT_TYPE = "application/jwk-set+json"
# Public, like the card: a verifier may keep the keys this long. A rotation publishes the new
# key before it signs anything, so a cached set never lacks the key of a card served with it.
JWKS_CACHE_CONTROL = "public, max-age=300"


async def jwks(request: HttpRequest) -> HttpResponse:
    """GET the public JWK set (RFC 7517 §5), with Cache-Control and ETag; 404 without keys."""
    if request.method not in ("GET", "HEAD"):
        return HttpResponse(status=405, headers={"Allow": "GET, HEAD"})
    rendered = rendered_jwks()
    # Any origin may read it, as it may read the card it verifies.
    cors = {"Access-Control-Allow-Origin": "*"}
    if rendered is None:
        return JsonResponse(
            {"error": "This server does not sign its agent card: it publishes no keys."},
            status=404,
            headers=cors,
        )
    headers = {"Cache-Control": JWKS_CACHE_CONTROL, "ETag": rendered.etag, **cors}
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match is not None:
        tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
        if rendered.etag in tags or "*" in tags:
            return HttpResponseNotModified(headers=headers)
    return HttpResponse(rendered.body, content_type=JWKS_CONTENT_TYPE, headers=headers)
