"""API keys: storage, the management command, and the DRF authentication class."""

from __future__ import annotations

import hashlib
from io import StringIO

import pytest
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from rest_framework import exceptions
from rest_framework.test import APIRequestFactory

from accounts.auth import AuthenticationFailed, authenticate, user_for_credential
from accounts.authentication import ApiKeyAuthentication
from accounts.models import ApiKey, User
from accounts.services import api_key_create, api_key_revoke

pytestmark = pytest.mark.django_db


def test_only_the_hash_is_stored(user):
    api_key, key = api_key_create(user=user, name="ci")
    assert key.startswith("wcp_")
    assert len(key) > 40
    assert api_key.key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert key not in {api_key.prefix, api_key.key_hash, api_key.name}
    assert key.startswith(api_key.prefix)


def test_key_use_is_recorded(user):
    api_key, key = api_key_create(user=user, name="ci")
    assert user_for_credential(key) == user
    api_key.refresh_from_db()
    assert api_key.last_used_at is not None


def test_revoked_key_and_inactive_user_are_refused(user):
    api_key, key = api_key_create(user=user, name="ci")
    user.is_active = False
    user.save()
    with pytest.raises(AuthenticationFailed):
        user_for_credential(key)
    user.is_active = True
    user.save()
    api_key_revoke(api_key=api_key)
    with pytest.raises(AuthenticationFailed):
        user_for_credential(key)


def test_authenticate_headers(user, settings):
    _, key = api_key_create(user=user, name="ci")
    assert authenticate(authorization=f"Bearer {key}", api_key=None) == user
    assert authenticate(authorization=f"bearer  {key} ", api_key=None) == user
    assert authenticate(authorization=None, api_key=key) == user
    assert authenticate(authorization=None, api_key=None) is None
    settings.WEBCAP_PUBLIC_AGENT_USER = "guest"
    guest = authenticate(authorization=None, api_key=None)
    assert guest is not None
    assert guest.username == "guest"
    assert not guest.has_usable_password()
    with pytest.raises(AuthenticationFailed, match="Bearer"):
        authenticate(authorization="Token abc", api_key=None)
    with pytest.raises(AuthenticationFailed, match="empty"):
        authenticate(authorization=None, api_key=" ")


def test_apikey_create_prints_the_key_last(capsys):
    out = StringIO()
    call_command("apikey", "create", "carol", "--create-user", "--role", "approver", stdout=out)
    key = out.getvalue().strip().splitlines()[-1]
    user = User.objects.get(username="carol")
    assert user_for_credential(key) == user
    assert list(user.groups.values_list("name", flat=True)) == ["approver"]
    assert Group.objects.filter(name="approver").exists()


def test_apikey_create_for_missing_user_without_flag_fails():
    with pytest.raises(CommandError, match="does not exist"):
        call_command("apikey", "create", "nobody", stdout=StringIO())
    assert not User.objects.exists()


def test_apikey_list_and_revoke(user):
    api_key, key = api_key_create(user=user, name="laptop")
    out = StringIO()
    call_command("apikey", "list", "alice", stdout=out)
    assert "laptop" in out.getvalue()
    assert key not in out.getvalue()
    call_command("apikey", "revoke", api_key.prefix, stdout=StringIO())
    api_key.refresh_from_db()
    assert api_key.revoked_at is not None
    with pytest.raises(CommandError, match="No single key"):
        call_command("apikey", "revoke", "wcp_nothing", stdout=StringIO())


def test_apikey_expiry(user):
    out = StringIO()
    call_command("apikey", "create", "alice", "--expires-days", "3", stdout=out)
    assert ApiKey.objects.get(user=user).expires_at is not None
    with pytest.raises(CommandError, match="at least 1"):
        call_command("apikey", "create", "alice", "--expires-days", "0", stdout=StringIO())


def test_drf_authentication(user):
    _, key = api_key_create(user=user, name="ci")
    factory = APIRequestFactory()
    auth = ApiKeyAuthentication()
    found = auth.authenticate(factory.get("/", HTTP_X_API_KEY=key))
    assert found is not None
    authenticated, identity = found
    assert authenticated == user
    assert identity.method == "api_key"
    assert identity.api_key is not None
    assert identity.api_key.user == user
    assert auth.authenticate(factory.get("/")) is None
    with pytest.raises(exceptions.AuthenticationFailed):
        auth.authenticate(factory.get("/", HTTP_AUTHORIZATION="Bearer wrong"))
    assert auth.authenticate_header(factory.get("/")) == 'Bearer realm="webcap"'
