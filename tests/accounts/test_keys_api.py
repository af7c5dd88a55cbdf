"""/api/keys/: list, create (shown once), revoke; scopes narrow what a key may do."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from accounts.models import ApiKey
from audit.models import AuditEvent
from tests.factories import make_key, make_user

pytestmark = pytest.mark.django_db


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _create(client: Client, key: str, body: dict[str, Any]) -> Any:
    return client.post(
        "/api/keys/", data=json.dumps(body), content_type="application/json", headers=_auth(key)
    )


def test_create_shows_the_key_once_and_stores_only_its_hash():
    user = make_user("ada")
    key = make_key(user)
    client = Client()
    response = _create(client, key, {"name": "ci", "scopes": ["tasks:read"]})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["key"].startswith("wcp_")
    assert body["scopes"] == ["tasks:read"]
    stored = ApiKey.objects.get(pk=body["id"])
    assert body["key"] not in json.dumps(
        [stored.prefix, stored.key_hash, stored.name, stored.scopes]
    )
    listed = client.get("/api/keys/", headers=_auth(key)).json()
    assert {row["name"] for row in listed["results"]} == {"test", "ci"}
    assert all("key" not in row and "key_hash" not in row for row in listed["results"])
    detail = client.get(f"/api/keys/{body['id']}/", headers=_auth(key)).json()
    assert "key" not in detail
    event = AuditEvent.objects.get(action="apikey.create", target_id=body["id"])
    assert event.actor == user
    assert event.target_type == "accounts.apikey"
    assert event.extra["prefix"] == stored.prefix
    assert body["key"] not in json.dumps(event.extra)


def test_delete_revokes_and_the_key_stops_working():
    user = make_user("ada")
    key = make_key(user)
    client = Client()
    created = _create(client, key, {"name": "temp"}).json()
    assert client.get("/api/keys/", headers=_auth(created["key"])).status_code == 200
    response = client.delete(f"/api/keys/{created['id']}/", headers=_auth(key))
    assert response.status_code == 204
    assert ApiKey.objects.get(pk=created["id"]).revoked_at is not None
    assert client.get("/api/keys/", headers=_auth(created["key"])).status_code == 401
    assert AuditEvent.objects.filter(action="apikey.revoke", target_id=created["id"]).count() == 1
    # A revoked key is gone from the API, like any deleted resource: a second DELETE and a
    # GET are 404, the list leaves it out, and nothing is audited twice.
    assert client.delete(f"/api/keys/{created['id']}/", headers=_auth(key)).status_code == 404
    assert client.get(f"/api/keys/{created['id']}/", headers=_auth(key)).status_code == 404
    listed = client.get("/api/keys/", headers=_auth(key)).json()["results"]
    assert created["id"] not in [row["id"] for row in listed]
    assert AuditEvent.objects.filter(action="apikey.revoke", target_id=created["id"]).count() == 1


def test_authorization_matrix():
    owner = make_user("ada")
    owner_key = make_key(owner)
    other_key = make_key(make_user("bob"))
    client = Client()
    created = _create(client, owner_key, {"name": "mine"}).json()
    url = f"/api/keys/{created['id']}/"
    # Anonymous: 401 with a challenge.
    for response in (client.get("/api/keys/"), client.get(url), client.delete(url)):
        assert response.status_code == 401
        assert response["WWW-Authenticate"].startswith("Bearer")
    # Another user: the key does not exist for them, and their list does not show it.
    assert client.get(url, headers=_auth(other_key)).status_code == 404
    assert client.delete(url, headers=_auth(other_key)).status_code == 404
    other_list = client.get("/api/keys/", headers=_auth(other_key)).json()
    assert created["id"] not in {row["id"] for row in other_list["results"]}
    assert ApiKey.objects.get(pk=created["id"]).revoked_at is None
    # The owner.
    assert client.get(url, headers=_auth(owner_key)).status_code == 200


def test_scopes_are_enforced_and_cannot_be_widened():
    user = make_user("ada")
    full = make_key(user)
    client = Client()
    reader = _create(client, full, {"name": "reader", "scopes": ["tasks:read"]}).json()["key"]
    # Without keys:manage the key cannot reach the key API at all.
    assert client.get("/api/keys/", headers=_auth(reader)).status_code == 403
    manager = _create(client, full, {"name": "m", "scopes": ["keys:manage", "tasks:read"]}).json()
    # A scoped key may only mint keys with a subset of its scopes.
    widened = _create(client, manager["key"], {"name": "w", "scopes": ["tasks:write"]})
    assert widened.status_code == 400
    assert "scopes" in widened.json()
    unscoped = _create(client, manager["key"], {"name": "w"})
    assert unscoped.status_code == 400
    narrowed = _create(client, manager["key"], {"name": "n", "scopes": ["tasks:read"]})
    assert narrowed.status_code == 201


def test_a_read_only_key_cannot_send_messages_but_can_read():
    user = make_user("ada")
    full = make_key(user)
    client = Client()
    reader = _create(client, full, {"name": "r", "scopes": ["tasks:read"]}).json()["key"]

    def call(method: str, params: dict[str, Any]) -> Any:
        return client.post(
            "/a2a/jsonrpc",
            data=json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}),
            content_type="application/json",
            headers={**_auth(reader), "A2A-Version": "1.0"},
        ).json()

    assert "result" in call("ListTasks", {})
    denied = call(
        "SendMessage",
        {"message": {"messageId": "m", "role": "ROLE_USER", "parts": [{"text": "hi"}]}},
    )
    assert denied["error"]["code"] == -32040
    assert "tasks:write" in denied["error"]["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": "x", "scopes": ["root"]}, "scopes"),
        # The field as the request names it (the service said expiresAt, the A2A spelling).
        ({"name": "x", "expires_at": "2001-01-01T00:00:00Z"}, "expires_at"),
        ({"name": ""}, "name"),
        ({"name": "x", "expires_at": "not a date"}, "expires_at"),
        ({"name": "x" * 101}, "name"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(body, field):
    key = make_key(make_user("ada"))
    response = _create(Client(), key, body)
    assert response.status_code == 400
    assert field in response.json()
    assert ApiKey.objects.count() == 1
