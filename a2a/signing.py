"""webcap's own card signing keys (A2A §8.4): read from settings, published as a JWK set.

``WEBCAP_CARD_SIGNING_KEYS`` holds a JWK set of private keys (a file path, or the JSON
itself); ``WEBCAP_CARD_SIGNING_KEY_ID`` names the one that signs. Every key of the set is
published at ``JWKS_PATH``, so a key can be rotated: add the new key, switch the active kid
(cards signed by the old key still verify while it is published), then drop the old key.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from django.conf import settings

from a2a.protocol.jsonrpc import dumps
from a2a.protocol.signatures import card_sign
from common.jws import Key, KeySetError, key_set_load, public_jwks

# Beside the card (RFC 8615 well-known URIs); the signature's jku points here.
JWKS_PATH = "/.well-known/jwks.json"


class SigningConfigError(ValueError):
    """WEBCAP_CARD_SIGNING_KEYS or WEBCAP_CARD_SIGNING_KEY_ID cannot be used."""


@dataclass(frozen=True)
class SigningKeys:
    """The key that signs the card, and every key the JWK set publishes."""

    active: Key
    keys: tuple[Key, ...]


@dataclass(frozen=True)
class RenderedJwks:
    body: bytes
    etag: str


def signing_keys() -> SigningKeys | None:
    """The configured signing keys, or None when the card is not signed."""
    return _signing_keys(settings.WEBCAP_CARD_SIGNING_KEYS, settings.WEBCAP_CARD_SIGNING_KEY_ID)


@lru_cache(maxsize=4)
def _signing_keys(source: str, active_kid: str) -> SigningKeys | None:
    """Load the keys (cached: the settings are fixed for the life of a process)."""
    if not source.strip():
        if active_kid:
            raise SigningConfigError(
                "WEBCAP_CARD_SIGNING_KEY_ID is set but WEBCAP_CARD_SIGNING_KEYS is not"
            )
        return None
    text = source if source.lstrip().startswith("{") else _read(source)
    try:
        keys = key_set_load(text)
    except KeySetError as exc:
        raise SigningConfigError(f"WEBCAP_CARD_SIGNING_KEYS: {exc}") from exc
    kids = [key.kid for key in keys]
    if not active_kid:
        if len(keys) > 1:
            raise SigningConfigError(
                f"WEBCAP_CARD_SIGNING_KEYS has {len(keys)} keys ({', '.join(map(str, kids))}): "
                "set WEBCAP_CARD_SIGNING_KEY_ID to the one that signs"
            )
        active_kid = str(kids[0])
    active = next((key for key in keys if key.kid == active_kid), None)
    if active is None:
        raise SigningConfigError(
            f"WEBCAP_CARD_SIGNING_KEY_ID={active_kid!r} is not a kid of WEBCAP_CARD_SIGNING_KEYS "
            f"({', '.join(map(str, kids))})"
        )
    return SigningKeys(active=active, keys=tuple(keys))


def _read(path: str) -> str:
    try:
        return Path(path).expanduser().read_text(encoding="utf-8")
    except OSError as exc:
        raise SigningConfigError(
            f"WEBCAP_CARD_SIGNING_KEYS: cannot read {path}: {exc.strerror or exc}"
        ) from exc


def jwks_url(base_url: str) -> str:
    """Where the public keys of a server reachable at base_url are published."""
    return base_url + JWKS_PATH


def card_signed(card: dict[str, Any], base_url: str) -> dict[str, Any]:
    """Return card signed with the active key (unchanged when signing is not configured)."""
    keys = signing_keys()
    if keys is None:
        return card
    return card_sign(card, key=keys.active, jku=jwks_url(base_url))


def rendered_jwks() -> RenderedJwks | None:
    """The public JWK set's bytes and ETag, built once per process; None without keys."""
    return _rendered_jwks(settings.WEBCAP_CARD_SIGNING_KEYS, settings.WEBCAP_CARD_SIGNING_KEY_ID)


@lru_cache(maxsize=4)
def _rendered_jwks(source: str, active_kid: str) -> RenderedJwks | None:
    keys = _signing_keys(source, active_kid)
    if keys is None:
        return None
    body = dumps(public_jwks(keys.keys))
    return RenderedJwks(body=body, etag='"' + hashlib.sha256(body).hexdigest()[:32] + '"')
