"""Access tokens of an OpenID Connect provider, verified against a real JWKS on 127.0.0.1."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import jwt
import pytest
from asgiref.sync import sync_to_async
from cryptography.hazmat.primitives import serialization
from django.db import connection
from django.test import override_settings

from accounts.models import ExternalIdentity, User
from accounts.oidc import UNREACHABLE, OIDCError, reset_cache, user_for_oidc_token
from accounts.roles import roles_of
from audit.models import AuditEvent
from tests.accounts.jwks_server import (
    DISCOVERY_PATH,
    Provider,
    ProviderServer,
    SigningKey,
    b64url,
    ec_key,
    rsa_key,
)
from tests.factories import make_user

AUDIENCE = "webcap"


@pytest.fixture(scope="module")
def keys() -> dict[str, SigningKey]:
    """The provider's keys (RSA keys take a moment to generate: once per module)."""
    return {
        "a": rsa_key("key-a"),
        "b": rsa_key("key-b"),
        "ec": ec_key("key-ec"),
        "stranger": rsa_key("key-stranger"),
        "impostor": rsa_key("key-a"),  # same kid as "a", another key
    }


def _oidc_settings(provider: Provider, **overrides: Any) -> override_settings:
    values: dict[str, Any] = {
        "OIDC_ISSUER": provider.issuer,
        "OIDC_AUDIENCE": AUDIENCE,
        "OIDC_JWKS_URL": "",
        "OIDC_ALGORITHMS": ["RS256", "ES256"],
        "OIDC_USERNAME_CLAIM": "sub",
        "OIDC_JWKS_CACHE_SECONDS": 300,
        "OIDC_JWKS_REFETCH_SECONDS": 30,
        "OIDC_TIMEOUT": 2.0,
    }
    values.update(overrides)
    return override_settings(**values)


@pytest.fixture
def provider(keys: dict[str, SigningKey]) -> Iterator[Provider]:
    """A running provider publishing keys a and ec, and webcap configured to trust it."""
    provider = Provider(keys=[keys["a"], keys["ec"]])
    server = ProviderServer(provider)
    server.start()
    reset_cache()
    try:
        with _oidc_settings(provider):
            yield provider
    finally:
        reset_cache()
        server.stop()


def _token(provider: Provider, key: SigningKey, **claims: Any) -> str:
    return key.sign(provider.claims(**claims))


def _refused(token: str) -> str:
    """Assert the token is refused and nothing was created; return the reason."""
    before = (User.objects.count(), ExternalIdentity.objects.count())
    with pytest.raises(OIDCError) as excinfo:
        user_for_oidc_token(token)
    assert (User.objects.count(), ExternalIdentity.objects.count()) == before
    return str(excinfo.value)


def _unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    return f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# --- Accepted tokens and the local user ------------------------------------------------------


@pytest.mark.django_db
def test_first_sign_in_creates_a_user_in_the_user_role(provider, keys):
    user = user_for_oidc_token(_token(provider, keys["a"], sub="abc-123"))

    assert user.username == "oidc:abc-123"
    assert not user.has_usable_password()
    assert (user.is_active, user.is_staff, user.is_superuser) == (True, False, False)
    assert list(user.groups.values_list("name", flat=True)) == ["user"]
    assert roles_of(user) == {"user"}
    identity = ExternalIdentity.objects.get()
    assert (identity.issuer, identity.subject, identity.user) == (provider.issuer, "abc-123", user)
    event = AuditEvent.objects.get()
    assert (event.action, event.actor, event.auth_method, event.outcome) == (
        "auth.login",
        user,
        "oidc",
        "success",
    )
    assert (event.target_type, event.target_id) == ("accounts.externalidentity", str(identity.pk))
    assert event.extra == {"issuer": provider.issuer, "subject": "abc-123", "created": True}


@pytest.mark.django_db
def test_second_sign_in_reuses_the_identity_and_the_cached_keys(provider, keys):
    first = user_for_oidc_token(_token(provider, keys["a"], sub="abc-123"))
    second = user_for_oidc_token(_token(provider, keys["a"], sub="abc-123"))

    assert second == first
    assert User.objects.count() == 1
    assert ExternalIdentity.objects.count() == 1
    # One discovery, one key set fetch; the second token used the cache.
    assert (provider.count(DISCOVERY_PATH), provider.count()) == (1, 1)
    # Sign-ins within a minute are not each written down.
    assert AuditEvent.objects.filter(action="auth.login").count() == 1


@pytest.mark.django_db
def test_a_later_sign_in_updates_last_seen_and_is_audited(provider, keys):
    user_for_oidc_token(_token(provider, keys["a"]))
    identity = ExternalIdentity.objects.get()
    long_ago = identity.last_seen_at.replace(year=2020)
    ExternalIdentity.objects.filter(pk=identity.pk).update(last_seen_at=long_ago)

    user_for_oidc_token(_token(provider, keys["a"]))

    identity.refresh_from_db()
    assert identity.last_seen_at > long_ago
    extras = list(AuditEvent.objects.order_by("id").values_list("extra", flat=True))
    assert [extra["created"] for extra in extras] == [True, False]


@pytest.mark.django_db
def test_an_ec_signed_token_is_accepted(provider, keys):
    user = user_for_oidc_token(_token(provider, keys["ec"], sub="ec-person"))
    assert user.username == "oidc:ec-person"


@pytest.mark.django_db
def test_an_audience_list_containing_ours_is_accepted(provider, keys):
    token = _token(provider, keys["a"], aud=["other-api", AUDIENCE])
    assert user_for_oidc_token(token).username == "oidc:subject-1"


@pytest.mark.django_db
def test_the_username_claim_names_the_user(provider, keys):
    with override_settings(OIDC_USERNAME_CLAIM="preferred_username"):
        user = user_for_oidc_token(_token(provider, keys["a"], preferred_username="carol"))
        assert user.username == "oidc:carol"
        reason = _refused(_token(provider, keys["a"], sub="no-name"))
    assert reason == "The token lacks the 'preferred_username' claim that names the user."


@pytest.mark.django_db
def test_an_explicit_jwks_url_skips_discovery(provider, keys):
    with override_settings(OIDC_JWKS_URL=provider.jwks_url):
        user_for_oidc_token(_token(provider, keys["a"]))
    assert (provider.count(DISCOVERY_PATH), provider.count()) == (0, 1)


# --- The mapping never reaches a local account ---------------------------------------------


@pytest.mark.django_db
def test_sub_admin_does_not_sign_in_as_the_local_admin(provider, keys):
    admin = make_user("admin")
    admin.is_superuser = admin.is_staff = True
    admin.save()

    user = user_for_oidc_token(_token(provider, keys["a"], sub="admin"))

    assert user != admin
    assert user.username == "oidc:admin"
    assert (user.is_superuser, user.is_staff) == (False, False)
    assert roles_of(user) == {"user"}
    assert not ExternalIdentity.objects.filter(user=admin).exists()


@pytest.mark.django_db
def test_a_taken_username_gets_a_suffix_unique_to_the_identity(provider, keys):
    local = make_user("oidc:dave")
    user = user_for_oidc_token(_token(provider, keys["a"], sub="dave"))
    digest = hashlib.sha256(f"{provider.issuer}\ndave".encode()).hexdigest()[:12]
    assert user != local
    assert user.username == f"oidc:dave~{digest}"


@pytest.mark.django_db
def test_a_long_name_is_cut_to_the_username_column(provider, keys):
    with override_settings(OIDC_USERNAME_CLAIM="email"):
        user = user_for_oidc_token(_token(provider, keys["a"], email="e" * 300 + "@example.com"))
    assert len(user.username) == 150
    assert user.username.startswith("oidc:eeee")
    assert user.username[-13] == "~"


@pytest.mark.django_db
def test_an_inactive_local_user_is_refused(provider, keys):
    user = user_for_oidc_token(_token(provider, keys["a"]))
    User.objects.filter(pk=user.pk).update(is_active=False)
    assert (
        _refused(_token(provider, keys["a"])) == "The local account of this identity is disabled."
    )


@pytest.mark.django_db(transaction=True)
def test_concurrent_first_sign_ins_create_one_user(provider, keys):
    token = _token(provider, keys["a"], sub="rush")
    start = threading.Barrier(6)

    def sign_in() -> int:
        try:
            start.wait()
            return user_for_oidc_token(token).pk
        finally:
            connection.close()

    with ThreadPoolExecutor(6) as pool:
        ids = list(pool.map(lambda _: sign_in(), range(6)))

    assert len(set(ids)) == 1
    assert User.objects.filter(username="oidc:rush").count() == 1
    assert ExternalIdentity.objects.count() == 1


# --- Refused tokens --------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"aud": "another-api"}, "The token is not meant for this service (aud)."),
        ({"iss": "https://evil.example"}, "The token's issuer is not the configured provider."),
        ({"exp": int(time.time()) - 3600}, "The token has expired."),
        ({"exp": None}, "The token lacks the 'exp' claim."),
        ({"aud": None}, "The token lacks the 'aud' claim."),
        ({"sub": None}, "The token lacks the 'sub' claim."),
        ({"nbf": int(time.time()) + 3600}, "The token is not valid yet (nbf or iat)."),
        ({"iat": int(time.time()) + 3600}, "The token is not valid yet (nbf or iat)."),
        ({"sub": "x" * 256}, "The token's sub must be 1 to 255 characters."),
    ],
    ids=["audience", "issuer", "expired", "no-exp", "no-aud", "no-sub", "nbf", "iat", "long-sub"],
)
def test_bad_claims_are_refused(provider, keys, claims, reason):
    assert _refused(_token(provider, keys["a"], **claims)) == reason


@pytest.mark.django_db
def test_alg_none_is_refused_before_any_key_lookup(provider, keys):
    token = _unsigned({"alg": "none", "typ": "JWT", "kid": "key-a"}, provider.claims()) + "."
    reason = _refused(token)
    assert reason == "The token's algorithm is not accepted; it must be one of RS256, ES256."
    assert provider.count() == 0


@pytest.mark.django_db
def test_hs256_signed_with_the_public_key_is_refused(provider, keys):
    """The classic key confusion: the public key's PEM used as an HMAC secret."""
    pem = (
        keys["a"]
        .private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    signing_input = _unsigned({"alg": "HS256", "typ": "JWT", "kid": "key-a"}, provider.claims())
    signature = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    token = f"{signing_input}.{b64url(signature)}"
    # Even an operator who lists HS256 does not make it acceptable.
    with override_settings(OIDC_ALGORITHMS=["HS256", "RS256"]):
        reason = _refused(token)
    assert reason == "The token's algorithm is not accepted; it must be one of RS256."
    with override_settings(OIDC_ALGORITHMS=["HS256"]):
        reason = _refused(_token(provider, keys["a"]))
    assert reason == "OIDC_ALGORITHMS names no asymmetric algorithm; no token is accepted."


@pytest.mark.django_db
def test_a_tampered_payload_is_refused(provider, keys):
    header, _, signature = _token(provider, keys["a"], sub="mallory").split(".")
    payload = b64url(json.dumps(provider.claims(sub="alice")).encode())
    reason = _refused(f"{header}.{payload}.{signature}")
    assert reason == "The token's signature or claims are invalid."


@pytest.mark.django_db
def test_a_key_not_in_the_jwks_is_refused(provider, keys):
    # Same kid as a published key, but another key signed it.
    assert _refused(_token(provider, keys["impostor"])) == (
        "The token's signature or claims are invalid."
    )
    # A kid the provider never published.
    assert _refused(_token(provider, keys["stranger"])) == (
        "The token's signing key (kid) is not one of the provider's keys."
    )


@pytest.mark.django_db
def test_a_token_without_kid_or_with_a_mismatched_algorithm_is_refused(provider, keys):
    no_kid = jwt.encode(provider.claims(), keys["a"].private, algorithm="RS256")
    assert _refused(no_kid) == "The token names no signing key (kid)."
    # An RS256 signature presented under the EC key's kid.
    assert _refused(keys["a"].sign(provider.claims(), kid="key-ec")) == (
        "The token's signature or claims are invalid."
    )


@pytest.mark.django_db
def test_garbage_is_refused(provider):
    assert _refused("not.a.jwt") == "The token is not a well-formed JWT."


@pytest.mark.django_db
def test_an_incomplete_configuration_accepts_nothing(provider, keys):
    with override_settings(OIDC_AUDIENCE=""):
        reason = _refused(_token(provider, keys["a"]))
    assert reason == "OpenID Connect sign-in needs both OIDC_ISSUER and OIDC_AUDIENCE."


# --- Key rotation and the refetch throttle -------------------------------------------------


@pytest.mark.django_db
def test_a_rotated_key_is_accepted_after_one_refetch(provider, keys):
    user_for_oidc_token(_token(provider, keys["a"], sub="one"))
    assert provider.count() == 1

    provider.publish(keys["b"])  # the provider rotates: key a is gone, key b is new
    user = user_for_oidc_token(_token(provider, keys["b"], sub="two"))

    assert user.username == "oidc:two"
    assert provider.count() == 2
    # The retired key's kid is now unknown; the refetch just made is not repeated at once.
    assert _refused(_token(provider, keys["a"], sub="one")) == (
        "The token's signing key (kid) is not one of the provider's keys."
    )
    assert provider.count() == 2


@pytest.mark.django_db
def test_an_expired_cache_is_refreshed_without_an_extra_refetch(provider, keys):
    with _oidc_settings(provider, OIDC_JWKS_CACHE_SECONDS=1):
        user_for_oidc_token(_token(provider, keys["a"]))
        provider.publish(keys["b"])
        time.sleep(1.1)
        user_for_oidc_token(_token(provider, keys["b"]))
    assert provider.count() == 2


@pytest.mark.django_db
def test_a_burst_of_random_kids_makes_a_bounded_number_of_fetches(provider, keys):
    def attempt(_: int) -> None:
        token = keys["a"].sign(provider.claims(), kid=uuid.uuid4().hex)
        with pytest.raises(OIDCError, match="not one of the provider's keys"):
            user_for_oidc_token(token)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(attempt, range(40)))
    for number in range(40):
        attempt(number)

    # The first fetch, then one refetch for an unknown kid; the rest were throttled.
    assert provider.count() == 2
    assert provider.count(DISCOVERY_PATH) == 1
    # Known keys keep working from the cache.
    user_for_oidc_token(_token(provider, keys["a"]))
    assert provider.count() == 2


@pytest.mark.django_db
def test_the_refetch_throttle_ends_after_its_interval(provider, keys):
    with _oidc_settings(provider, OIDC_JWKS_REFETCH_SECONDS=0.2):
        for _ in range(2):
            with pytest.raises(OIDCError):
                user_for_oidc_token(keys["a"].sign(provider.claims(), kid="unknown"))
        assert provider.count() == 2
        time.sleep(0.25)
        provider.publish(keys["b"])
        user_for_oidc_token(_token(provider, keys["b"]))
    assert provider.count() == 3


# --- An unreachable or broken provider ------------------------------------------------------


@pytest.mark.django_db
def test_an_unreachable_provider_refuses_cleanly(provider, keys):
    port = _closed_port()
    token = keys["a"].sign(provider.claims(iss=f"http://127.0.0.1:{port}"))
    with override_settings(OIDC_ISSUER=f"http://127.0.0.1:{port}"):
        assert _refused(token) == UNREACHABLE
        with override_settings(OIDC_JWKS_URL=f"http://127.0.0.1:{port}/jwks"):
            assert _refused(token) == UNREACHABLE


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("failure", "reason"),
    [
        ((500, b"oops"), UNREACHABLE),
        ((200, b"<html>not json</html>"), "The identity provider's key set (JWKS) is unusable."),
        ((200, b"[1, 2]"), "The identity provider's key set (JWKS) is unusable."),
        ((200, b'{"keys": []}'), "The identity provider's key set (JWKS) is unusable."),
        (
            (200, b'{"keys": [{"kty": "nope", "kid": "key-a"}]}'),
            "The identity provider's key set (JWKS) is unusable.",
        ),
    ],
    ids=["500", "not-json", "not-object", "no-keys", "unusable-key"],
)
def test_a_broken_key_set_refuses_cleanly(provider, keys, failure, reason):
    provider.jwks_failure = failure
    assert _refused(_token(provider, keys["a"])) == reason


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"jwks_uri": None}, "The identity provider's discovery document is unusable."),
        (
            {"issuer": "https://evil.example"},
            "The identity provider's discovery document is unusable.",
        ),
        ({"jwks_uri": "file:///etc/passwd"}, "The identity provider's key set (JWKS) is unusable."),
    ],
    ids=["no-jwks-uri", "other-issuer", "file-url"],
)
def test_a_broken_discovery_document_refuses_cleanly(provider, keys, overrides, reason):
    provider.discovery_overrides = overrides
    assert _refused(_token(provider, keys["a"])) == reason
    assert provider.count() == 0


@pytest.mark.django_db
def test_a_malformed_issuer_setting_refuses_cleanly(provider, keys):
    with override_settings(OIDC_ISSUER="http://[::1"):
        assert _refused(_token(provider, keys["a"], iss="http://[::1")) == UNREACHABLE


@pytest.mark.django_db
def test_cached_keys_outlive_a_provider_outage(provider, keys):
    user_for_oidc_token(_token(provider, keys["a"]))
    provider.jwks_failure = (503, b"down")
    assert user_for_oidc_token(_token(provider, keys["a"], sub="later")).username == "oidc:later"
    assert provider.count() == 1


# --- End to end: the JSON-RPC binding -----------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_jsonrpc_accepts_an_oidc_token(provider, keys, rpc):
    token = _token(provider, keys["a"], sub="rpc-person")

    response = await rpc("ListTasks", {}, key=token)

    assert response.status_code == 200
    body = response.json()
    assert body["result"]["tasks"] == []
    assert "error" not in body
    user = await sync_to_async(User.objects.get)(external_identities__subject="rpc-person")
    assert user.username == "oidc:rpc-person"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("problem", ["expired", "audience", "tampered"])
async def test_jsonrpc_refuses_a_bad_oidc_token_with_401(provider, keys, rpc, problem):
    if problem == "expired":
        token = _token(provider, keys["a"], exp=int(time.time()) - 60)
    elif problem == "audience":
        token = _token(provider, keys["a"], aud="someone-else")
    else:
        header, _, signature = _token(provider, keys["a"]).split(".")
        token = f"{header}.{b64url(json.dumps(provider.claims(sub='admin')).encode())}.{signature}"

    response = await rpc("ListTasks", {}, key=token)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="webcap"'
    assert "result" not in response.json()
    assert await sync_to_async(User.objects.count)() == 0
    failure = await sync_to_async(AuditEvent.objects.get)(action="auth.failure")
    assert (failure.auth_method, failure.outcome) == ("oidc", "failure")


@pytest.mark.django_db(transaction=True)
async def test_jsonrpc_refuses_cleanly_when_the_provider_is_down(provider, keys, rpc):
    provider.jwks_failure = (502, b"bad gateway")
    response = await rpc("ListTasks", {}, key=_token(provider, keys["a"]))
    assert response.status_code == 401
    assert response.json()["error"]["message"].startswith(UNREACHABLE)
