"""API keys in the admin: created through the service (shown once), revoked by an action."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import ApiKey, User
from accounts.services import api_key_hash
from audit.models import AuditEvent
from tests.factories import make_key, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client() -> tuple[Client, User]:
    root = User.objects.create_superuser(username="root", password="unused-password-123")
    client = Client()
    client.force_login(root)
    return client, root


def test_creating_a_key_shows_it_once_and_audits_it(admin_client):
    client, root = admin_client
    owner = make_user("ada")
    response = client.post(
        "/admin/accounts/apikey/add/",
        {"user": owner.pk, "name": "dashboard", "scopes": ["tasks:read"]},
    )
    assert response.status_code == 200, response.content[:500]
    assert "no-store" in response["Cache-Control"]
    key = response.context["key"]
    assert key.startswith("wcp_")
    assert key.encode() in response.content
    stored = ApiKey.objects.get(user=owner, name="dashboard")
    assert stored.key_hash == api_key_hash(key)
    assert stored.scopes == ["tasks:read"]
    event = AuditEvent.objects.get(action="apikey.create")
    assert (event.actor, event.target_id) == (root, str(stored.pk))
    assert AuditEvent.objects.filter(action="admin.add", target_id=str(stored.pk)).count() == 1
    # The key is nowhere else: not in the change page, not in the list.
    assert key.encode() not in client.get(f"/admin/accounts/apikey/{stored.pk}/change/").content
    assert key.encode() not in client.get("/admin/accounts/apikey/").content


def test_a_past_expiry_is_refused_in_the_form(admin_client):
    client, _ = admin_client
    owner = make_user("ada")
    response = client.post(
        "/admin/accounts/apikey/add/",
        {"user": owner.pk, "name": "old", "expires_at_0": "2001-01-01", "expires_at_1": "00:00:00"},
    )
    assert response.status_code == 200
    assert b"Must be in the future." in response.content
    assert not ApiKey.objects.filter(name="old").exists()


def test_the_revoke_action_revokes_through_the_service(admin_client):
    client, root = admin_client
    owner = make_user("ada")
    key = make_key(owner)
    stored = ApiKey.objects.get(user=owner)
    response = client.post(
        "/admin/accounts/apikey/",
        {"action": "revoke_selected", "_selected_action": [str(stored.pk)]},
    )
    assert response.status_code == 302
    stored.refresh_from_db()
    assert stored.revoked_at is not None
    assert AuditEvent.objects.get(action="apikey.revoke").actor == root
    assert Client().get("/api/keys/", headers={"Authorization": f"Bearer {key}"}).status_code == 401
