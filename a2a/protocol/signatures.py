"""Agent card signatures (A2A §8.4): what a signature covers, signing a card, and verifying a
remote agent's card under a trust policy.

Pure: no network, no settings. Whoever fetched a remote card also fetches the key set its
signatures name (``card_jwks_urls`` says which) and hands both to ``verify_card``.

The payload (§8.4.1): the card without ``signatures``, without the default values of fields
that have no presence (§5.7), canonicalised with RFC 8785. Empty strings, lists and objects
are left out as well, as the a2a-sdk's signer and verifier do (its ``_clean_empty``): a card
signed here verifies there and the other way round. Where that differs from the letter of
§8.4.1 (a REQUIRED field left empty, such as ``"skills": []``), a verifier here also tries
the card exactly as received, so a signer that kept the empty field is understood too.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from common.jws import (
    ALGORITHMS,
    CanonicalizationError,
    Key,
    KeySetError,
    canonical_json,
    key_import,
    protected_header,
    sign_detached,
    verify_detached,
)

# A2A §8.4.2: typ SHOULD be "JOSE".
SIGNATURE_TYPE = "JOSE"
# The card fields (proto3 scalars without `optional`) whose default value (false) the JSON
# form leaves out (§5.7, §8.4.1): in an agent card only these two. "*" is any map key.
_NO_PRESENCE = (
    ("capabilities", "extensions", "[]", "required"),
    ("securitySchemes", "*", "oauth2SecurityScheme", "flows", "authorizationCode", "pkceRequired"),
)
_DEFAULT_PORTS = {"http": 80, "https": 443}


class TrustPolicy(enum.StrEnum):
    """How much a remote agent's card must prove before webcap trusts it."""

    # No signature needed (one that is present is not checked).
    OPEN = "open"
    # A valid signature by a key from the JWKS URL (jku) the signature names, on the card's
    # own origin: whoever controls the agent's site vouches for its card.
    SIGNED = "signed"
    # A valid signature by one of the keys configured for the agent, wherever they came from.
    PINNED = "pinned"

    @classmethod
    def choices(cls) -> list[tuple[str, str]]:
        """(value, label) pairs for a model field's choices."""
        return [(policy.value, policy.value.capitalize()) for policy in cls]


class Refusal(enum.StrEnum):
    """Why a card was refused (stable codes for the admin, the audit log and metrics)."""

    MALFORMED_CARD = "MALFORMED_CARD"
    NO_SIGNATURE = "NO_SIGNATURE"
    MALFORMED_SIGNATURE = "MALFORMED_SIGNATURE"
    UNSUPPORTED_ALGORITHM = "UNSUPPORTED_ALGORITHM"
    NO_JKU = "NO_JKU"
    JKU_CROSS_ORIGIN = "JKU_CROSS_ORIGIN"
    NO_JWKS = "NO_JWKS"
    KEY_NOT_FOUND = "KEY_NOT_FOUND"
    KEY_NOT_PINNED = "KEY_NOT_PINNED"
    BAD_SIGNATURE = "BAD_SIGNATURE"


@dataclass(frozen=True)
class SignatureFailure:
    """Why one signature of a card did not verify."""

    reason: Refusal
    message: str
    kid: str | None = None


class CardRefused(Exception):
    """A card that its trust policy does not accept: ``reason`` says why, ``str()`` in words.

    With several signatures, ``reason`` is the first one's and ``failures`` lists them all.
    """

    def __init__(
        self,
        reason: Refusal,
        message: str,
        *,
        kid: str | None = None,
        failures: tuple[SignatureFailure, ...] = (),
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.kid = kid
        self.failures = failures or (SignatureFailure(reason, message, kid),)

    def details(self) -> dict[str, Any]:
        """The refusal as JSON, for an audit row's data or an admin field."""
        return {
            "reason": self.reason.value,
            "message": self.message,
            "kid": self.kid,
            "failures": [
                {"reason": f.reason.value, "message": f.message, "kid": f.kid}
                for f in self.failures
            ],
        }


@dataclass(frozen=True)
class CardVerification:
    """A card its policy accepts, and which key vouched for it (None under ``open``)."""

    policy: TrustPolicy
    kid: str | None = None
    jku: str | None = None
    algorithm: str | None = None
    card: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def verified(self) -> bool:
        """Whether a signature was checked and valid."""
        return self.kid is not None


def card_payload(card: Mapping[str, Any]) -> bytes:
    """The bytes a card's signature covers (A2A §8.4.1)."""
    body = {k: v for k, v in card.items() if k != "signatures"}
    return canonical_json(_without_defaults(body, ()) or {})


def _card_payloads(card: Mapping[str, Any]) -> list[bytes]:
    """What a verifier checks a signature against: the payload, then the card as received."""
    payloads = [card_payload(card)]
    literal = canonical_json({k: v for k, v in card.items() if k != "signatures"})
    return payloads if literal in payloads else [*payloads, literal]


def _without_defaults(value: Any, path: tuple[str, ...]) -> Any:
    """The value without nulls, empty strings, lists and objects, and no-presence defaults."""
    if isinstance(value, dict):
        kept = {}
        for key, item in value.items():
            if item is False and _no_presence((*path, key)):
                continue
            cleaned = _without_defaults(item, (*path, key))
            if cleaned is not None:
                kept[key] = cleaned
        return kept or None
    if isinstance(value, list):
        items = [_without_defaults(item, (*path, "[]")) for item in value]
        return [item for item in items if item is not None] or None
    if value is None or value == "":
        return None
    return value


def _no_presence(path: tuple[str, ...]) -> bool:
    return any(
        len(path) == len(pattern) and all(p in ("*", q) for p, q in zip(pattern, path, strict=True))
        for pattern in _NO_PRESENCE
    )


def card_signature(
    card: Mapping[str, Any],
    *,
    key: Key,
    jku: str | None = None,
    header: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Sign card with key (A2A §8.4.2); return the AgentCardSignature object.

    The protected header carries alg (from the key), typ "JOSE", kid and, when given, jku:
    the URL of the JWK set that publishes the key. ``header`` is the unprotected header.
    """
    protected: dict[str, Any] = {"typ": SIGNATURE_TYPE, "kid": key.kid}
    if jku:
        protected["jku"] = jku
    encoded, signature = sign_detached(card_payload(card), key, protected)
    out: dict[str, Any] = {"protected": encoded, "signature": signature}
    if header:
        out["header"] = dict(header)
    return out


def card_sign(card: Mapping[str, Any], *, key: Key, jku: str | None = None) -> dict[str, Any]:
    """Return card with ``signatures`` holding one signature by key (replacing any before)."""
    body = {k: v for k, v in card.items() if k != "signatures"}
    return {**body, "signatures": [card_signature(body, key=key, jku=jku)]}


def same_origin(url: str, other: str) -> bool:
    """Whether two http(s) URLs have the same scheme, host and port (RFC 6454)."""
    a, b = _origin(url), _origin(other)
    return a is not None and a == b


def _origin(url: str) -> tuple[str, str, int] | None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    return scheme, parts.hostname.lower(), port or _DEFAULT_PORTS[scheme]


def card_jwks_urls(card_json: str | bytes | Mapping[str, Any], *, card_url: str) -> list[str]:
    """The JWKS URLs to fetch to verify a card: each signature's jku on the card's origin.

    A jku on another origin is left out: under ``signed`` such a signature is refused anyway,
    and fetching it would let a card make webcap request any URL it names.
    """
    try:
        card = _card_object(card_json)
    except CardRefused:
        return []
    urls: list[str] = []
    for signature in _signatures(card):
        try:
            jku = protected_header(signature["protected"]).get("jku")
        except (ValueError, KeyError, TypeError):
            continue
        if isinstance(jku, str) and same_origin(jku, card_url) and jku not in urls:
            urls.append(jku)
    return urls


def verify_card(
    card_json: str | bytes | Mapping[str, Any],
    *,
    policy: TrustPolicy | str,
    jwks: str | bytes | Mapping[str, Any] | None = None,
    pinned_keys: Iterable[Mapping[str, Any] | Key] = (),
    card_url: str,
) -> CardVerification:
    """Check a remote agent's card against its trust policy; raise CardRefused if it fails.

    Args:
        card_json: the card as fetched (JSON text or the parsed object).
        policy: ``open``, ``signed`` or ``pinned`` (TrustPolicy).
        jwks: under ``signed``, the JWK set fetched from the signature's jku (see
            ``card_jwks_urls``), or a mapping of each fetched jku to its JWK set.
        pinned_keys: under ``pinned``, the public JWKs the agent's card must be signed with.
        card_url: the URL the card was fetched from; a jku must be on its origin.

    Returns:
        Which key verified the card (none under ``open``).
    """
    policy = TrustPolicy(policy)
    card = _card_object(card_json)
    if policy is TrustPolicy.OPEN:
        return CardVerification(policy=policy, card=card)
    signatures = _signatures(card)
    if not signatures:
        raise CardRefused(
            Refusal.NO_SIGNATURE, f"the card has no signature, and its trust policy is {policy}"
        )
    try:
        payloads = _card_payloads(card)
    except CanonicalizationError as exc:
        raise CardRefused(Refusal.MALFORMED_CARD, f"the card has no canonical form: {exc}") from exc
    pinned = _keys_by_kid(pinned_keys) if policy is TrustPolicy.PINNED else {}
    failures: list[SignatureFailure] = []
    for signature in signatures:
        try:
            return _verify_one(
                signature,
                card,
                payloads,
                policy=policy,
                jwks=jwks,
                pinned=pinned,
                card_url=card_url,
            )
        except CardRefused as refusal:
            failures.append(SignatureFailure(refusal.reason, refusal.message, refusal.kid))
    first = failures[0]
    message = first.message
    if len(failures) > 1:
        message += f" (and {len(failures) - 1} more signature(s) failed)"
    raise CardRefused(first.reason, message, kid=first.kid, failures=tuple(failures))


def _verify_one(
    signature: Any,
    card: dict[str, Any],
    payloads: list[bytes],
    *,
    policy: TrustPolicy,
    jwks: str | bytes | Mapping[str, Any] | None,
    pinned: dict[str, Key],
    card_url: str,
) -> CardVerification:
    if not isinstance(signature, dict) or not all(
        isinstance(signature.get(k), str) for k in ("protected", "signature")
    ):
        raise CardRefused(Refusal.MALFORMED_SIGNATURE, "a signature lacks protected or signature")
    try:
        header = protected_header(signature["protected"])
    except ValueError as exc:
        raise CardRefused(Refusal.MALFORMED_SIGNATURE, str(exc)) from exc
    alg, kid, jku = header["alg"], header.get("kid"), header.get("jku")
    if alg not in ALGORITHMS:
        raise CardRefused(
            Refusal.UNSUPPORTED_ALGORITHM,
            f"signature algorithm {alg!r} is not accepted (only asymmetric ones: "
            f"{', '.join(sorted(ALGORITHMS))})",
        )
    if not isinstance(kid, str) or not kid:
        raise CardRefused(Refusal.MALFORMED_SIGNATURE, 'the protected header has no "kid"')
    if "crit" in header:
        # RFC 7515 §4.1.11: extensions the verifier does not understand make it invalid.
        raise CardRefused(
            Refusal.MALFORMED_SIGNATURE, 'the protected header has "crit" extensions', kid=kid
        )
    if jku is not None and not isinstance(jku, str):
        raise CardRefused(Refusal.MALFORMED_SIGNATURE, '"jku" is not a string', kid=kid)
    if policy is TrustPolicy.PINNED:
        key = pinned.get(kid)
        if key is None:
            raise CardRefused(
                Refusal.KEY_NOT_PINNED,
                f"key {kid!r} is not one of the keys pinned for this agent "
                f"({', '.join(sorted(pinned)) or 'none'})",
                kid=kid,
            )
    else:
        key = _key_from_jwks(kid, jku, jwks, card_url=card_url)
    protected, value = signature["protected"], signature["signature"]
    if not any(verify_detached(protected, value, payload, key) for payload in payloads):
        raise CardRefused(
            Refusal.BAD_SIGNATURE,
            f"the signature by key {kid!r} does not match the card: the card was changed "
            "after signing, or the key is not the one that signed it",
            kid=kid,
        )
    return CardVerification(policy=policy, kid=kid, jku=jku, algorithm=alg, card=card)


def _key_from_jwks(
    kid: str, jku: str | None, jwks: str | bytes | Mapping[str, Any] | None, *, card_url: str
) -> Key:
    if not jku:
        raise CardRefused(
            Refusal.NO_JKU, 'the signature names no JWKS URL ("jku") to find its key at', kid=kid
        )
    if not same_origin(jku, card_url):
        raise CardRefused(
            Refusal.JKU_CROSS_ORIGIN,
            f"the signature's JWKS URL {jku} is not on the card's origin ({card_url})",
            kid=kid,
        )
    key_set = _key_set_for(jku, jwks)
    if key_set is None:
        raise CardRefused(Refusal.NO_JWKS, f"no key set was fetched from {jku}", kid=kid)
    keys = _keys_by_kid(key_set.get("keys") or [] if isinstance(key_set, dict) else [])
    key = keys.get(kid)
    if key is None:
        raise CardRefused(
            Refusal.KEY_NOT_FOUND, f"key {kid!r} is not in the key set at {jku}", kid=kid
        )
    return key


def _key_set_for(jku: str, jwks: str | bytes | Mapping[str, Any] | None) -> Any:
    if jwks is None:
        return None
    if isinstance(jwks, str | bytes):
        try:
            jwks = json.loads(jwks)
        except ValueError:
            return None
    if not isinstance(jwks, Mapping):
        return None
    if "keys" in jwks:
        return dict(jwks)
    # A mapping of each fetched URL to its key set.
    found = jwks.get(jku)
    if isinstance(found, str | bytes):
        try:
            found = json.loads(found)
        except ValueError:
            return None
    return dict(found) if isinstance(found, Mapping) else None


def _keys_by_kid(keys: Iterable[Mapping[str, Any] | Key]) -> dict[str, Key]:
    """Usable public keys by kid; a key that cannot be used (symmetric, unreadable) is left out."""
    found: dict[str, Key] = {}
    for item in keys:
        if isinstance(item, Mapping):
            try:
                key = key_import(item)
            except KeySetError:
                continue
        else:
            key = item
        if key.kid and key.kid not in found:
            found[key.kid] = key
    return found


def _card_object(card_json: str | bytes | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(card_json, Mapping):
        return dict(card_json)
    try:
        card = json.loads(card_json)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise CardRefused(Refusal.MALFORMED_CARD, f"the card is not JSON: {exc}") from exc
    if not isinstance(card, dict):
        raise CardRefused(Refusal.MALFORMED_CARD, "the card is not a JSON object")
    return card


def _signatures(card: Mapping[str, Any]) -> list[Any]:
    signatures = card.get("signatures")
    return list(signatures) if isinstance(signatures, list) else []
