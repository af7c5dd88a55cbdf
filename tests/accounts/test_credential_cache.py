"""The per-process credential cache (accounts/auth.py): fast, and never trusted for long.

A change made in this process (through a service, the admin, any save) is seen at once; a
change made elsewhere (another process: here a queryset update, which sends no signal) is
seen once WEBCAP_CREDENTIAL_CACHE_SECONDS have passed.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.auth import AuthenticationFailed, identify, identify_cached, identity_for_credential
from accounts.models import ApiKey, User
from accounts.roles import roles_of
from accounts.services import api_key_create, api_key_revoke
from tests.factories import make_access_token

pytestmark = pytest.mark.django_db


@pytest.fixture
def clock(monkeypatch):
    """A monotonic clock the test moves by hand."""
    now = [1000.0]
    monkeypatch.setattr("common.recent.monotonic", lambda: now[0])
    return now


def test_a_cached_key_needs_no_query(user):
    _, key = api_key_create(user=user, name="k")
    roles_of(identity_for_credential(key).user)
    with CaptureQueriesContext(connection) as queries:
        identity = identity_for_credential(key)
        roles_of(identity.user)
    assert identity.user == user
    assert len(queries) == 0


def test_revoking_here_is_seen_at_once(user):
    api_key, key = api_key_create(user=user, name="k")
    identity_for_credential(key)
    api_key_revoke(api_key=api_key)
    with pytest.raises(AuthenticationFailed):
        identity_for_credential(key)


def test_deactivating_the_user_or_changing_roles_here_is_seen_at_once(user):
    _, key = api_key_create(user=user, name="k")
    assert roles_of(identity_for_credential(key).user) == {"user"}
    user.groups.add(Group.objects.get_or_create(name="viewer")[0])
    assert roles_of(identity_for_credential(key).user) == {"viewer"}
    User.objects.get(pk=user.pk).save()  # any save, e.g. the admin's
    user.is_active = False
    user.save()
    with pytest.raises(AuthenticationFailed):
        identity_for_credential(key)


def test_a_revocation_elsewhere_is_seen_within_the_cache_time(user, settings, clock):
    settings.WEBCAP_CREDENTIAL_CACHE_SECONDS = 5
    api_key, key = api_key_create(user=user, name="k")
    identity_for_credential(key)
    # Another process revokes the key: no signal reaches this one.
    ApiKey.objects.filter(pk=api_key.pk).update(revoked_at=timezone.now())
    clock[0] += 4.9
    assert identity_for_credential(key).user == user
    clock[0] += 0.2
    with pytest.raises(AuthenticationFailed):
        identity_for_credential(key)


def test_expiry_is_checked_on_every_request_even_from_the_cache(user, settings, clock):
    settings.WEBCAP_CREDENTIAL_CACHE_SECONDS = 60
    _, key = api_key_create(user=user, name="k")
    identity_for_credential(key)
    cached = identity_for_credential(key).api_key
    assert cached is not None
    cached.expires_at = timezone.now()  # the moment it expires, as the clock moves on
    with pytest.raises(AuthenticationFailed):
        identity_for_credential(key)


def test_a_token_user_deactivated_elsewhere_is_refused_within_the_cache_time(user, settings, clock):
    settings.WEBCAP_CREDENTIAL_CACHE_SECONDS = 5
    token = make_access_token(user)
    identity_for_credential(token)
    User.objects.filter(pk=user.pk).update(is_active=False)
    assert identity_for_credential(token).user == user
    clock[0] += 5.1
    with pytest.raises(AuthenticationFailed):
        identity_for_credential(token)


def test_zero_turns_the_cache_off(user, settings):
    settings.WEBCAP_CREDENTIAL_CACHE_SECONDS = 0
    api_key, key = api_key_create(user=user, name="k")
    identity_for_credential(key)
    ApiKey.objects.filter(pk=api_key.pk).update(revoked_at=timezone.now())
    with pytest.raises(AuthenticationFailed):
        identity_for_credential(key)


def test_unknown_keys_are_never_cached(user):
    with pytest.raises(AuthenticationFailed):
        identity_for_credential("wcp_" + "x" * 43)
    with CaptureQueriesContext(connection) as queries, pytest.raises(AuthenticationFailed):
        identity_for_credential("wcp_" + "x" * 43)
    assert any("accounts_apikey" in query["sql"] for query in queries)


def test_identify_cached_answers_only_for_a_known_usable_key(user):
    api_key, key = api_key_create(user=user, name="k")
    bearer = f"Bearer {key}"
    # Not looked up yet: the caller must ask identify(), which reads and caches it.
    assert identify_cached(authorization=bearer, api_key=None) is None
    assert identify(authorization=bearer, api_key=None) is not None
    with CaptureQueriesContext(connection) as queries:
        identity = identify_cached(authorization=None, api_key=key)
    assert identity is not None
    assert identity.user == user
    assert len(queries) == 0
    # Other kinds of credential, none, or two malformed headers: identify() decides.
    assert identify_cached(authorization=None, api_key=None) is None
    assert identify_cached(authorization="Basic abc", api_key=None) is None
    assert identify_cached(authorization=f"Bearer {make_access_token(user)}", api_key=None) is None
    # A use due to be recorded (once a minute) goes through identify(), which records it.
    ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=None)
    identity_for_credential(key).api_key.last_used_at = None  # type: ignore[union-attr]
    assert identify_cached(authorization=bearer, api_key=None) is None
    api_key_revoke(api_key=api_key)
    assert identify_cached(authorization=bearer, api_key=None) is None
