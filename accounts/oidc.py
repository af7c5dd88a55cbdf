"""Access tokens of an external OpenID Connect provider, verified against its JWKS.

Enabled by OIDC_ISSUER and OIDC_AUDIENCE. accounts.auth sends a bearer JWT here when its
(unverified) ``iss`` is the configured issuer; this module then trusts nothing in the token
until its signature checks out against the provider's published keys:

- the keys come from OIDC_JWKS_URL, or from ``jwks_uri`` in the issuer's discovery document
  (OpenID Connect Discovery 1.0 §4), never from the token (``jku``/``x5u`` are ignored);
- only asymmetric algorithms from OIDC_ALGORITHMS are accepted, so ``alg: none`` and an HS256
  token "signed" with the provider's public key are refused before any key is looked up;
- ``kid``, ``exp``, ``iss``, ``aud`` and ``sub`` are required; ``nbf`` and ``iat`` are
  checked when present, with CLOCK_SKEW_SECONDS of tolerance.

The key set is cached for OIDC_JWKS_CACHE_SECONDS. A token whose ``kid`` is not in a cached
set refetches it once (the provider may have rotated its keys), but at most once every
OIDC_JWKS_REFETCH_SECONDS, so tokens with made-up kids cannot make webcap hammer the provider.

The person is found by (issuer, ``sub``) in ExternalIdentity. Their first sign-in creates a
local user in the "user" role named after OIDC_USERNAME_CLAIM with an ``oidc:`` prefix; the
name only labels the account and is never used to find one, so a token cannot sign in as a
local account such as ``admin``. Sign-ins are audited as ``auth.login`` (auth method
``oidc``): the first with ``created`` set, later ones at most once a minute, when last_seen_at
is written. Refusals are audited by accounts.auth.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import ExternalIdentity, User
from accounts.roles import USER
from accounts.services import user_ensure
from audit.services import audit_record

logger = logging.getLogger(__name__)

USERNAME_PREFIX = "oidc:"
USERNAME_MAX_LENGTH = 150  # AbstractUser.username
# Tolerated difference between our clock and the provider's, for exp, nbf and iat.
CLOCK_SKEW_SECONDS = 30
# Least time between two JWKS fetches caused by an unknown kid, unless the setting says.
DEFAULT_REFETCH_SECONDS = 30.0
# last_seen_at is written at most this often, so every request does not write.
SEEN_WRITE_SECONDS = 60
# The algorithms a provider may sign with; anything symmetric (HS*) or "none" never is,
# whatever OIDC_ALGORITHMS says: its "secret" would be the public key everyone can read.
ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
# OpenID Connect Core §2: sub is at most 255 ASCII characters (ExternalIdentity.subject).
MAX_SUBJECT_LENGTH = 255
UNREACHABLE = "The identity provider could not be reached to verify the token; try again later."


class OIDCError(Exception):
    """The provider's token was refused, or the provider's keys could not be read."""


@dataclass(frozen=True)
class _Discovered:
    jwks_uri: str
    fetched_at: float


class _KeySet:
    """The provider's signing keys: PyJWKClient's cached set, refetched for unknown kids."""

    def __init__(self, url: str, *, lifespan: float, timeout: float, refetch: float) -> None:
        # PyJWKClient's own cooldown counts from every fetch, which would refuse a rotated
        # key for a while after an ordinary fetch; the throttle below counts only the
        # refetches an unknown kid causes.
        self.client = jwt.PyJWKClient(
            url, cache_jwk_set=True, lifespan=lifespan, timeout=timeout, cooldown_duration=0
        )
        self.refetch = refetch
        self._lock = threading.Lock()
        self._last_refetch: float | None = None

    def signing_key(self, kid: str) -> jwt.PyJWK:
        """Return the provider's key named kid, or raise OIDCError."""
        # One lookup at a time: concurrent tokens with the same new kid cause one refetch.
        with self._lock:
            cache = self.client.jwk_set_cache
            was_cached = cache is not None and cache.get() is not None
            key = self.client.match_kid(self._keys(refresh=False), kid)
            # A set fetched just now for this call is as fresh as a refetch would be.
            if key is None and was_cached and self._may_refetch():
                self._last_refetch = time.monotonic()
                logger.info("Unknown OIDC key id; refetching the JWKS from %s", self.client.uri)
                key = self.client.match_kid(self._keys(refresh=True), kid)
        if key is None:
            raise OIDCError("The token's signing key (kid) is not one of the provider's keys.")
        return key

    def _may_refetch(self) -> bool:
        return self._last_refetch is None or time.monotonic() - self._last_refetch >= self.refetch

    def _keys(self, *, refresh: bool) -> list[jwt.PyJWK]:
        try:
            return self.client.get_signing_keys(refresh=refresh)
        # PyJWT wraps connection failures; a connection dropped while the body is read
        # arrives as a bare OSError.
        except (jwt.PyJWKClientConnectionError, OSError) as exc:
            logger.warning("Fetching the OIDC JWKS from %s failed: %s", self.client.uri, exc)
            raise OIDCError(UNREACHABLE) from exc
        # A reachable provider that serves no usable key set: not JSON (ValueError), not an
        # object, or no signing key PyJWT can use.
        except (jwt.PyJWTError, ValueError) as exc:
            logger.warning("The OIDC JWKS at %s is unusable: %s", self.client.uri, exc)
            raise OIDCError("The identity provider's key set (JWKS) is unusable.") from exc


_lock = threading.Lock()
_discovery_lock = threading.Lock()
_discovered: dict[str, _Discovered] = {}
_key_sets: dict[tuple[str, float, float, float], _KeySet] = {}


def reset_cache() -> None:
    """Forget discovered documents and cached key sets (tests; a changed configuration)."""
    with _lock:
        _discovered.clear()
        _key_sets.clear()


def _cache_seconds() -> float:
    # PyJWKClient refuses a lifespan of 0; without a cache every token would fetch the keys.
    return max(float(settings.OIDC_JWKS_CACHE_SECONDS), 1.0)


def _discover(issuer: str) -> str:
    """Return jwks_uri from the issuer's discovery document."""
    url = f"{issuer}/.well-known/openid-configuration"
    try:
        response = httpx.get(
            url, timeout=settings.OIDC_TIMEOUT, headers={"Accept": "application/json"}
        )
        response.raise_for_status()
        document = response.json()
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        logger.warning("OpenID Connect discovery at %s failed: %s", url, exc)
        raise OIDCError(UNREACHABLE) from exc
    except ValueError as exc:
        logger.warning("OpenID Connect discovery at %s is not JSON: %s", url, exc)
        raise OIDCError("The identity provider's discovery document is unusable.") from exc
    if not isinstance(document, dict) or not isinstance(document.get("jwks_uri"), str):
        logger.warning("OpenID Connect discovery at %s names no jwks_uri", url)
        raise OIDCError("The identity provider's discovery document is unusable.")
    # OpenID Connect Discovery 1.0 §4.3: the document must be the configured issuer's.
    if str(document.get("issuer", "")).rstrip("/") != issuer:
        logger.warning("OpenID Connect discovery at %s names another issuer", url)
        raise OIDCError("The identity provider's discovery document is unusable.")
    return str(document["jwks_uri"])


def _jwks_url() -> str:
    if settings.OIDC_JWKS_URL:
        return str(settings.OIDC_JWKS_URL)
    issuer = settings.OIDC_ISSUER
    # One discovery at a time: when the cached document expires, concurrent requests wait
    # for one fetch instead of each making their own.
    with _discovery_lock:
        cached = _discovered.get(issuer)
        if cached is not None and time.monotonic() - cached.fetched_at < _cache_seconds():
            return cached.jwks_uri
        jwks_uri = _discover(issuer)
        _discovered[issuer] = _Discovered(jwks_uri=jwks_uri, fetched_at=time.monotonic())
        return jwks_uri


def _key_set() -> _KeySet:
    url = _jwks_url()
    refetch = float(getattr(settings, "OIDC_JWKS_REFETCH_SECONDS", DEFAULT_REFETCH_SECONDS))
    config = (url, _cache_seconds(), float(settings.OIDC_TIMEOUT), refetch)
    with _lock:
        key_set = _key_sets.get(config)
        if key_set is None:
            try:
                key_set = _KeySet(url, lifespan=config[1], timeout=config[2], refetch=refetch)
            except jwt.PyJWKClientError as exc:  # not an http(s) URL
                logger.warning("Unusable OIDC JWKS URL %s: %s", url, exc)
                raise OIDCError("The identity provider's key set (JWKS) is unusable.") from exc
            _key_sets[config] = key_set
        return key_set


def _algorithms() -> list[str]:
    algorithms = [name for name in settings.OIDC_ALGORITHMS if name in ASYMMETRIC_ALGORITHMS]
    if not algorithms:
        raise OIDCError("OIDC_ALGORITHMS names no asymmetric algorithm; no token is accepted.")
    return algorithms


def verified_claims(token: str) -> dict[str, Any]:
    """Return the claims of a provider's access token, or raise OIDCError saying why not."""
    issuer, audience = settings.OIDC_ISSUER, settings.OIDC_AUDIENCE
    if not issuer or not audience:
        raise OIDCError("OpenID Connect sign-in needs both OIDC_ISSUER and OIDC_AUDIENCE.")
    algorithms = _algorithms()
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise OIDCError("The token is not a well-formed JWT.") from exc
    if header.get("alg") not in algorithms:
        raise OIDCError(
            f"The token's algorithm is not accepted; it must be one of {', '.join(algorithms)}."
        )
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise OIDCError("The token names no signing key (kid).")
    key = _key_set().signing_key(kid)
    try:
        # A PyJWK verifies with its own algorithm only, and only if the header names it.
        claims: dict[str, Any] = jwt.decode(
            token,
            key=key,
            algorithms=algorithms,
            audience=audience,
            # OIDC_ISSUER is kept without a trailing slash; some providers write one in "iss".
            issuer=[issuer, issuer + "/"],
            leeway=CLOCK_SKEW_SECONDS,
            options={"require": ["exp", "iss", "aud", "sub"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise OIDCError("The token has expired.") from exc
    except jwt.ImmatureSignatureError as exc:
        raise OIDCError("The token is not valid yet (nbf or iat).") from exc
    except jwt.InvalidAudienceError as exc:
        raise OIDCError("The token is not meant for this service (aud).") from exc
    except jwt.InvalidIssuerError as exc:
        raise OIDCError("The token's issuer is not the configured provider.") from exc
    except jwt.MissingRequiredClaimError as exc:
        raise OIDCError(f"The token lacks the {exc.claim!r} claim.") from exc
    except jwt.PyJWTError as exc:
        raise OIDCError("The token's signature or claims are invalid.") from exc
    return claims


def _username_candidates(*, name: str, issuer: str, subject: str) -> list[str]:
    """Return local usernames for a new identity, best first, each within the column."""
    limit = USERNAME_MAX_LENGTH
    # Unique per identity: the fallback when the plain name is taken by another account.
    suffix = "~" + hashlib.sha256(f"{issuer}\n{subject}".encode()).hexdigest()[:12]
    printable = "".join(char if char.isprintable() else "_" for char in name)
    plain = USERNAME_PREFIX + printable
    suffixed = plain[: limit - len(suffix)] + suffix
    return [plain, suffixed] if len(plain) <= limit else [suffixed]


def _claimed_name(claims: dict[str, Any]) -> str:
    claim = settings.OIDC_USERNAME_CLAIM
    value = claims.get(claim)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise OIDCError(f"The token lacks the {claim!r} claim that names the user.")
    return value.strip()


def external_identity_get_or_create(*, issuer: str, subject: str, name: str) -> ExternalIdentity:
    """Return the identity (issuer, subject), creating it and its local user on first sign-in.

    The new user has no usable password and the "user" role; it is named ``oidc:<name>``,
    or that with a suffix unique to the identity when an account of that name exists.
    """
    for username in _username_candidates(name=name, issuer=issuer, subject=subject):
        try:
            with transaction.atomic():
                # A concurrent first sign-in of the same person may have created it: on
                # PostgreSQL this waits for the row's lock, on SQLite for the write lock.
                existing = (
                    ExternalIdentity.objects.select_for_update()
                    .select_related("user")
                    .filter(issuer=issuer, subject=subject)
                    .first()
                )
                if existing is not None:
                    return existing
                if User.objects.filter(username=username).exists():
                    continue
                user = User(username=username)
                user.set_unusable_password()
                user.save()
                user_ensure(username=username, role=USER)
                identity = ExternalIdentity.objects.create(
                    issuer=issuer, subject=subject, user=user
                )
                audit_record(
                    action="auth.login",
                    actor=identity.user,
                    target=identity,
                    auth_method="oidc",
                    extra={"issuer": issuer, "subject": subject, "created": True},
                )
                logger.info("Created user %s for OIDC subject of %s", username, issuer)
                return identity
        except IntegrityError:
            # The race was lost on the identity or on the username; the winner's row counts.
            existing = (
                ExternalIdentity.objects.select_related("user")
                .filter(issuer=issuer, subject=subject)
                .first()
            )
            if existing is not None:
                return existing
    raise OIDCError("No local username is free for this identity; ask an administrator.")


@transaction.atomic
def external_identity_touch(*, identity: ExternalIdentity) -> bool:
    """Record that the identity signed in, at most once a minute so requests do not all write.

    Return whether this call recorded it; the audit log notes sign-ins at the same pace.
    """
    now = timezone.now()
    if (now - identity.last_seen_at).total_seconds() <= SEEN_WRITE_SECONDS:
        return False
    ExternalIdentity.objects.filter(pk=identity.pk).update(last_seen_at=now, updated_at=now)
    identity.last_seen_at = now
    audit_record(
        action="auth.login",
        actor=identity.user,
        target=identity,
        auth_method="oidc",
        extra={"issuer": identity.issuer, "subject": identity.subject, "created": False},
    )
    return True


def user_for_oidc_token(token: str) -> User:
    """Return the active local user of a provider's access token, or raise OIDCError."""
    claims = verified_claims(token)
    issuer = settings.OIDC_ISSUER
    subject = claims["sub"]
    if not isinstance(subject, str) or not subject or len(subject) > MAX_SUBJECT_LENGTH:
        raise OIDCError(f"The token's sub must be 1 to {MAX_SUBJECT_LENGTH} characters.")
    identity = (
        ExternalIdentity.objects.select_related("user")
        .filter(issuer=issuer, subject=subject)
        .first()
    )
    if identity is None:
        identity = external_identity_get_or_create(
            issuer=issuer, subject=subject, name=_claimed_name(claims)
        )
    if not identity.user.is_active:
        raise OIDCError("The local account of this identity is disabled.")
    external_identity_touch(identity=identity)
    return identity.user
