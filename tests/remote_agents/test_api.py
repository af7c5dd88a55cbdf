"""/api/agents/: the authorization matrix of every endpoint, and what a response shows."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from a2a.services.tasks import SendResult, message_send
from accounts.services import user_ensure
from audit.models import AuditEvent
from remote_agents.models import Delegation, RemoteAgent
from remote_agents.services import remote_agent_register
from tests.factories import make_access_token, make_key, wire_message
from tests.matrix import Endpoint, only
from tests.remote_agents.cardsite import card

pytestmark = [pytest.mark.django_db, pytest.mark.live]

ROLE_OF = {
    "user": "user",
    "viewer": "viewer",
    "approver": "approver",
    "operator": "operator",
    "admin": "admin",
}
CALLERS = ("anonymous", *ROLE_OF)
MANAGERS = {"operator", "admin"}


def _manages(ok: int) -> Callable[[str], int]:
    return only(MANAGERS, ok)


def _sees_disabled(ok: int) -> Callable[[str], int]:
    return only(MANAGERS, ok, otherwise=404)


ENDPOINTS = (
    Endpoint("list", "get", "/api/agents/", lambda c: 200),
    Endpoint("get", "get", "/api/agents/{on}/", lambda c: 200),
    Endpoint("get-disabled", "get", "/api/agents/{off}/", _sees_disabled(200)),
    Endpoint("create", "post", "/api/agents/", _manages(201), {"name": "new", "card_url": "{url}"}),
    Endpoint("patch", "patch", "/api/agents/{on}/", _manages(200), {"approval_policy": "always"}),
    Endpoint(
        "patch-disabled", "patch", "/api/agents/{off}/", _sees_disabled(200), {"enabled": True}
    ),
    Endpoint("refresh", "post", "/api/agents/{on}/refresh/", _manages(200)),
    Endpoint("delete", "delete", "/api/agents/{on}/", _manages(204)),
    Endpoint("delete-disabled", "delete", "/api/agents/{off}/", _sees_disabled(204)),
)


def _snapshot() -> list[Any]:
    return sorted(
        RemoteAgent.objects.values_list("id", "name", "enabled", "approval_policy", "updated_at")
    )


def _world(url: str, owner: Any) -> dict[str, str]:
    RemoteAgent.objects.all().delete()
    on = remote_agent_register(actor=owner, name="on", card_url=url)
    off = remote_agent_register(actor=owner, name="off", card_url=url, enabled=False)
    return {"on": str(on.pk), "off": str(off.pk), "url": url}


@pytest.mark.parametrize("credential_kind", ["api_key", "jwt"])
def test_every_agents_endpoint(site, allow_local, credential_kind):
    url = site.put("/matrix/card.json", card(site.url))
    users = {name: user_ensure(username=name, role=role) for name, role in ROLE_OF.items()}
    tokens = {
        name: (make_key if credential_kind == "api_key" else make_access_token)(user)
        for name, user in users.items()
    }
    mismatches = []
    for caller in CALLERS:
        client = Client()
        headers = {} if caller == "anonymous" else {"Authorization": f"Bearer {tokens[caller]}"}
        for endpoint in ENDPOINTS:
            world = _world(url, users["admin"])
            before = _snapshot()
            path = endpoint.path.format(**world)
            kwargs: dict[str, Any] = {"headers": headers}
            if endpoint.method in ("post", "patch"):
                body = json.dumps(endpoint.body).replace("{url}", url) if endpoint.body else ""
                kwargs.update(data=body, content_type="application/json")
            response = getattr(client, endpoint.method)(path, **kwargs)
            want = 401 if caller == "anonymous" else endpoint.expect(caller)
            if response.status_code != want:
                mismatches.append(
                    f"{caller} {endpoint.name}: expected {want}, got {response.status_code} "
                    f"{response.content[:160]!r}"
                )
            elif want >= 400 and _snapshot() != before:
                mismatches.append(f"{caller} {endpoint.name}: refused ({want}) but changed")
            if endpoint.name == "list" and want == 200:
                names = {row["name"] for row in response.json()["results"]}
                wanted = {"on", "off"} if caller in MANAGERS else {"on"}
                if names != wanted:
                    mismatches.append(f"{caller} list: {sorted(names)}")
    assert not mismatches, "\n".join(mismatches)


@pytest.fixture
def operator_client(db) -> Client:
    operator = user_ensure(username="ops", role="operator")
    return Client(headers={"Authorization": f"Bearer {make_key(operator)}"})


def test_the_secret_is_write_only(site, allow_local, operator_client, caplog):
    secret = "api-s3cret-never-returned"
    caplog.set_level(logging.DEBUG)
    url = site.put("/api-cred/card.json", card(site.url))
    created = operator_client.post(
        "/api/agents/",
        {
            "name": "helper",
            "card_url": url,
            "credential_kind": "bearer",
            "credential_secret": secret,
        },
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert "credential_secret" not in body
    assert (body["credential_kind"], body["credential_set"]) == ("bearer", True)
    assert (body["description"], body["signature_status"]) == ("Helps.", "unsigned")
    assert body["skills"][0]["id"] == "summarise"
    listed = operator_client.get("/api/agents/")
    got = operator_client.get(f"/api/agents/{body['id']}/")
    patched = operator_client.patch(
        f"/api/agents/{body['id']}/",
        {"credential_secret": secret + "-2", "description_override": "Summaries."},
        content_type="application/json",
    )
    refreshed = operator_client.post(f"/api/agents/{body['id']}/refresh/")
    assert patched.json()["description"] == "Summaries."
    assert refreshed.json()["result"] == "unchanged"
    for response in (created, listed, got, patched, refreshed):
        assert secret.encode() not in response.content
    assert secret not in json.dumps(list(AuditEvent.objects.values("extra")))
    assert not [r for r in caplog.records if secret in r.getMessage()]


def test_a_refused_registration_is_a_400_naming_the_reason(operator_client):
    response = operator_client.post(
        "/api/agents/",
        {"name": "meta", "card_url": "http://169.254.169.254/latest/meta-data/"},
        content_type="application/json",
    )
    assert response.status_code == 400
    body = response.json()
    assert body["extra"]["reason"] == "UNSAFE_URL"
    assert body["detail"].startswith("The card at http://169.254.169.254/latest/meta-data/ was")
    assert AuditEvent.objects.filter(action="remoteagent.register", outcome="failure").count() == 1


def test_a_bad_name_is_a_field_error(site, allow_local, operator_client):
    url = site.put("/names/card.json", card(site.url))
    assert (
        operator_client.post(
            "/api/agents/", {"name": "ok", "card_url": url}, content_type="application/json"
        ).status_code
        == 201
    )
    again = operator_client.post(
        "/api/agents/", {"name": "ok", "card_url": url}, content_type="application/json"
    )
    assert again.status_code == 400
    assert again.json() == {"name": ["a remote agent named 'ok' already exists"]}
    pinned = operator_client.post(
        "/api/agents/",
        {"name": "pin", "card_url": url, "trust_policy": "pinned"},
        content_type="application/json",
    )
    assert pinned.json() == {
        "pinned_keys": ["the pinned trust policy needs at least one public key"]
    }


def test_an_agent_with_live_delegations_cannot_be_deleted(
    site, allow_local, operator_client, settings
):
    settings.WEBCAP_AGENT = "conformance"
    url = site.put("/busy/card.json", card(site.url))
    owner = user_ensure(username="owner", role="user")
    agent = remote_agent_register(actor=owner, name="busy", card_url=url)
    result = message_send(
        owner=owner, message=wire_message("hi", message_id="tck-input-required-1")
    )
    assert isinstance(result, SendResult)
    Delegation.objects.create(parent_task_id=result.task_id, remote_agent=agent, depth=1)
    response = operator_client.delete(f"/api/agents/{agent.pk}/")
    assert response.status_code == 409
    assert response.json()["extra"] == {"live_delegations": 1}
    assert RemoteAgent.objects.filter(pk=agent.pk).exists()


@pytest.mark.parametrize("keys", [["a"], "keys", 3, {"keys": [{"kty": "EC"}]}, {"keys": "x"}])
def test_pinned_keys_that_are_no_jwk_set_are_a_field_error(operator_client, keys):
    response = operator_client.post(
        "/api/agents/",
        {"name": "pin", "card_url": "https://agents.example.com", "pinned_keys": keys},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert list(response.json()) == ["pinned_keys"]
