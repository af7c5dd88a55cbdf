"""The remote agents' admin pages: they render, register through the services, and never
show a credential."""

from __future__ import annotations

from typing import Any

import pytest

from audit.models import AuditEvent
from remote_agents.models import RemoteAgent
from remote_agents.services import remote_agent_register
from tests.admin_people import make_staff, signed_in
from tests.remote_agents.cardsite import card

pytestmark = [pytest.mark.django_db, pytest.mark.live]

SECRET = "admin-s3cret-never-rendered"


def _form(**values: Any) -> dict[str, Any]:
    form = {
        "name": "helper",
        "card_url": "",
        "description_override": "",
        "enabled": "on",
        "trust_policy": "open",
        "pinned_keys": "",
        "approval_policy": "untrusted",
        "credential_kind": "none",
        "credential_header": "X-API-Key",
        "credential_secret": "",
        "request_timeout_seconds": "30",
        "task_timeout_seconds": "600",
        "stream_idle_seconds": "60",
        "delegations-TOTAL_FORMS": "0",
        "delegations-INITIAL_FORMS": "0",
        "delegations-MIN_NUM_FORMS": "0",
        "delegations-MAX_NUM_FORMS": "0",
    }
    form.update(values)
    return form


def test_the_pages_render_and_the_secret_never_does(site, allow_local):
    client = signed_in(make_staff("ops", "operator"))
    url = site.put("/admin/card.json", card(site.url))
    assert client.get("/admin/remote_agents/remoteagent/add/").status_code == 200
    added = client.post(
        "/admin/remote_agents/remoteagent/add/",
        _form(card_url=url, credential_kind="bearer", credential_secret=SECRET),
    )
    assert added.status_code == 302, added.content.decode()[-2000:]
    agent = RemoteAgent.objects.get(name="helper")
    assert agent.credential_set
    assert AuditEvent.objects.filter(action="remoteagent.register", outcome="success").exists()

    changelist = client.get("/admin/remote_agents/remoteagent/")
    assert changelist.status_code == 200
    assert "helper" in changelist.content.decode()
    page = client.get(f"/admin/remote_agents/remoteagent/{agent.pk}/change/")
    html = page.content.decode()
    assert page.status_code == 200
    assert SECRET not in html
    assert agent.credential_secret not in html
    assert "Bearer: set" in html
    assert "&quot;supportedInterfaces&quot;" in html  # the card, pretty-printed
    assert client.get("/admin/remote_agents/delegation/").status_code == 200

    changed = client.post(
        f"/admin/remote_agents/remoteagent/{agent.pk}/change/",
        _form(card_url=agent.card_url, credential_kind="bearer", approval_policy="always"),
    )
    assert changed.status_code == 302
    agent.refresh_from_db()
    assert agent.approval_policy == "always"
    assert agent.credential_set  # an empty secret field keeps the stored one

    refreshed = client.post(
        "/admin/remote_agents/remoteagent/",
        {"action": "refresh_cards", "_selected_action": [str(agent.pk)]},
    )
    assert refreshed.status_code == 302
    row = AuditEvent.objects.get(action="remoteagent.refresh")
    assert (row.actor_username, row.extra["result"]) == ("ops", "unchanged")
    assert SECRET not in str(list(AuditEvent.objects.values("extra")))


def test_a_refused_card_is_shown_on_the_form(site, allow_local):
    client = signed_in(make_staff("root", superuser=True))
    url = site.put("/admin-unsigned/card.json", card(site.url))
    response = client.post(
        "/admin/remote_agents/remoteagent/add/", _form(card_url=url, trust_policy="signed")
    )
    assert response.status_code == 200
    assert "NO_SIGNATURE" in response.content.decode()
    assert not RemoteAgent.objects.exists()


def test_deleting_goes_through_the_service(site, allow_local):
    root = make_staff("root", superuser=True)
    url = site.put("/admin-delete/card.json", card(site.url))
    agent = remote_agent_register(actor=root, name="doomed", card_url=url)
    client = signed_in(root)
    path = f"/admin/remote_agents/remoteagent/{agent.pk}/delete/"
    assert client.get(path).status_code == 200
    assert client.post(path, {"post": "yes"}).status_code == 302
    assert not RemoteAgent.objects.exists()
    assert AuditEvent.objects.filter(action="remoteagent.delete").count() == 1
