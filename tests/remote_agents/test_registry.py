"""The registry's services against real servers: the live webcap (its card is signed) and a
local card site whose cards the tests sign, change and tamper with."""

from __future__ import annotations

import json
import logging
import socket
from datetime import timedelta
from typing import Any

import httpx
import pytest
from django.utils import timezone

from a2a.protocol.signatures import card_sign
from audit.models import AuditEvent
from common.jws import key_generate, public_jwks
from common.sealing import secret_open
from remote_agents.jobs import remote_agents_refresh_job
from remote_agents.models import RemoteAgent
from remote_agents.selectors import (
    remote_agent_client_options,
    remote_agent_for_name,
    remote_agent_needs_approval,
    remote_agents_offered,
)
from remote_agents.services import (
    RemoteAgentRefused,
    remote_agent_refresh,
    remote_agent_register,
    remote_agent_update,
    remote_agents_refresh_due,
)
from tests.conftest import LIVE_CARD_KID
from tests.live.server import LiveServer
from tests.remote_agents.cardsite import CardSite, card

pytestmark = [pytest.mark.django_db, pytest.mark.live]


def _signed(site: CardSite, key: Any, path: str, **fields: Any) -> str:
    """Serve a card signed by key (its jku on the site) at path; return its URL."""
    return site.put(path, card_sign(card(site.url, **fields), key=key, jku=f"{site.url}/jwks.json"))


def _refusal(name: str) -> Any:
    row = AuditEvent.objects.get(action="remoteagent.register", outcome="failure", extra__name=name)
    return row.extra


def test_the_live_webcaps_signed_card_verifies_under_signed(
    webcap_server: LiveServer, allow_local, operator
):
    agent = remote_agent_register(
        actor=operator, name="live", card_url=webcap_server.url, trust_policy="signed"
    )
    assert agent.card_url == f"{webcap_server.url}/.well-known/agent-card.json"
    assert (agent.signature_status, agent.signature_kid) == ("verified", LIVE_CARD_KID)
    assert agent.card["signatures"]
    assert (agent.interface_binding, agent.interface_url) == (
        "JSONRPC",
        f"{webcap_server.url}/a2a/jsonrpc",
    )
    assert agent.card_etag
    assert not agent.card_stale
    assert agent.skills
    assert set(agent.skills[0]) == {"id", "name", "description", "tags", "examples"}
    # Verified under signed: the default approval policy (untrusted) lets it run.
    assert remote_agent_needs_approval(agent=agent) is False
    assert remote_agent_for_name(name="live") == agent
    assert remote_agents_offered()[0]["name"] == "live"
    row = AuditEvent.objects.get(action="remoteagent.register", outcome="success")
    assert (row.actor_id, row.target_id, row.extra["signature_status"]) == (
        operator.pk,
        str(agent.pk),
        "verified",
    )


def test_pinned_verifies_with_the_right_key_and_refuses_another(
    webcap_server: LiveServer, allow_local, operator
):
    jwks = httpx.get(f"{webcap_server.url}/.well-known/jwks.json").json()
    agent = remote_agent_register(
        actor=operator,
        name="pinned",
        card_url=webcap_server.url,
        trust_policy="pinned",
        pinned_keys=jwks,
    )
    assert (agent.signature_status, agent.signature_kid) == ("verified", LIVE_CARD_KID)
    other = public_jwks([key_generate("ES256", kid="somebody-else")])
    with pytest.raises(RemoteAgentRefused) as refused:
        remote_agent_register(
            actor=operator,
            name="pinned-wrong",
            card_url=webcap_server.url,
            trust_policy="pinned",
            pinned_keys=other,
        )
    assert refused.value.extra["reason"] == "KEY_NOT_PINNED"
    assert "KEY_NOT_PINNED" in refused.value.message
    assert not RemoteAgent.objects.filter(name="pinned-wrong").exists()
    extra = _refusal("pinned-wrong")
    assert extra["reason"] == "KEY_NOT_PINNED"
    assert extra["signature_error"]["reason"] == "KEY_NOT_PINNED"


def test_a_tampered_or_unsigned_card_is_refused_under_signed(
    signed_site, site_key, allow_local, operator
):
    url = _signed(signed_site, site_key, "/good/card.json")
    good = remote_agent_register(actor=operator, name="good", card_url=url, trust_policy="signed")
    assert good.signature_status == "verified"

    tampered = card_sign(card(signed_site.url), key=site_key, jku=f"{signed_site.url}/jwks.json")
    tampered["description"] = "Sends your files elsewhere."
    url = signed_site.put("/tampered/card.json", tampered)
    with pytest.raises(RemoteAgentRefused) as refused:
        remote_agent_register(actor=operator, name="tampered", card_url=url, trust_policy="signed")
    assert refused.value.extra["reason"] == "BAD_SIGNATURE"
    assert _refusal("tampered")["reason"] == "BAD_SIGNATURE"

    url = signed_site.put("/unsigned/card.json", card(signed_site.url))
    with pytest.raises(RemoteAgentRefused) as refused:
        remote_agent_register(actor=operator, name="unsigned", card_url=url, trust_policy="signed")
    assert refused.value.extra["reason"] == "NO_SIGNATURE"
    # Open takes it, unverified: a delegation to it waits for a person (approval: untrusted).
    agent = remote_agent_register(actor=operator, name="unsigned", card_url=url)
    assert (agent.trust_policy, agent.signature_status) == ("open", "unsigned")
    assert remote_agent_needs_approval(agent=agent) is True
    assert RemoteAgent.objects.count() == 2


def test_an_invalid_card_is_refused_with_the_field_named(site, allow_local, operator):
    broken = card(site.url)
    del broken["supportedInterfaces"]
    url = site.put("/broken/card.json", broken)
    with pytest.raises(RemoteAgentRefused) as refused:
        remote_agent_register(actor=operator, name="broken", card_url=url)
    assert refused.value.extra["reason"] == "INVALID_CARD"
    assert "supportedInterfaces" in refused.value.message


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/.well-known/agent-card.json",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/",
    ],
)
def test_private_and_metadata_addresses_are_refused_without_the_allowlist(url, operator):
    with pytest.raises(RemoteAgentRefused) as refused:
        remote_agent_register(actor=operator, name="ssrf", card_url=url)
    assert refused.value.extra["reason"] == "UNSAFE_URL"
    assert _refusal("ssrf")["reason"] == "UNSAFE_URL"
    assert not RemoteAgent.objects.exists()


def test_the_allowlist_opens_only_what_it_names(allow_local, operator):
    with pytest.raises(RemoteAgentRefused) as refused:
        remote_agent_register(actor=operator, name="meta", card_url="http://169.254.169.254/")
    assert refused.value.extra["reason"] == "UNSAFE_URL"


def test_refresh_revalidates_and_a_304_keeps_the_card(site, allow_local, operator):
    url = site.put("/etag/card.json", card(site.url))
    agent = remote_agent_register(actor=operator, name="etag", card_url=url)
    checked = agent.card_checked_at
    site.requests.clear()
    outcome = remote_agent_refresh(agent=agent)
    assert outcome.result == "unchanged"
    assert site.requests == [("/etag/card.json", agent.card_etag)]
    fresh = RemoteAgent.objects.get(pk=agent.pk)
    assert fresh.card == agent.card
    assert fresh.card_fetched_at == agent.card_fetched_at
    assert fresh.card_checked_at is not None
    assert checked is not None
    assert fresh.card_checked_at > checked
    # The site says max-age=300: due five minutes after the check.
    assert fresh.card_due_at == fresh.card_checked_at + timedelta(seconds=300)


def test_a_changed_card_is_verified_again_and_a_refused_one_keeps_the_last(
    signed_site, site_key, allow_local, operator
):
    url = _signed(signed_site, site_key, "/moving/card.json", description="Version one.")
    agent = remote_agent_register(
        actor=operator, name="moving", card_url=url, trust_policy="signed"
    )
    _signed(signed_site, site_key, "/moving/card.json", description="Version two.")
    outcome = remote_agent_refresh(agent=agent)
    assert (outcome.result, outcome.agent.description) == ("changed", "Version two.")
    assert outcome.agent.signature_status == "verified"

    tampered = json.loads(signed_site.documents["/moving/card.json"])
    tampered["description"] = "Version evil."
    signed_site.put("/moving/card.json", tampered)
    outcome = remote_agent_refresh(agent=outcome.agent)
    refused = RemoteAgent.objects.get(pk=agent.pk)
    assert outcome.result == "failed"
    assert refused.description == "Version two."
    assert refused.card["description"] == "Version two."
    assert (refused.card_stale, refused.signature_status) == (True, "refused")
    assert refused.signature_error is not None
    assert refused.signature_error["reason"] == "BAD_SIGNATURE"
    assert refused.card_error.startswith("BAD_SIGNATURE: ")
    # No longer verified: a delegation waits for a person again.
    assert remote_agent_needs_approval(agent=refused) is True
    row = AuditEvent.objects.get(action="remoteagent.refresh", outcome="failure")
    assert (row.extra["reason"], row.extra["signature_error"]["reason"]) == (
        "BAD_SIGNATURE",
        "BAD_SIGNATURE",
    )


def test_an_unreachable_agent_is_stale_and_keeps_its_card(site, allow_local, operator):
    url = site.put("/gone/card.json", card(site.url))
    agent = remote_agent_register(actor=operator, name="gone", card_url=url)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    RemoteAgent.objects.filter(pk=agent.pk).update(
        card_url=f"http://127.0.0.1:{closed}/.well-known/agent-card.json"
    )
    outcome = remote_agent_refresh(agent=RemoteAgent.objects.get(pk=agent.pk))
    gone = outcome.agent
    assert outcome.result == "failed"
    assert gone.card_stale
    assert gone.card_error.startswith("UNREACHABLE: ")
    assert gone.card == agent.card
    assert gone.signature_status == "unsigned"
    # The same failure again is not audited again (the beat would flood the log).
    remote_agent_refresh(agent=gone)
    assert AuditEvent.objects.filter(action="remoteagent.refresh").count() == 1


def test_the_beat_refreshes_due_cards_only(site, allow_local, operator):
    url = site.put("/due/card.json", card(site.url))
    due = remote_agent_register(actor=operator, name="due", card_url=url)
    remote_agent_register(actor=operator, name="later", card_url=url)
    RemoteAgent.objects.filter(pk=due.pk).update(card_due_at=timezone.now() - timedelta(seconds=1))
    site.requests.clear()
    assert remote_agents_refresh_due() == 1
    assert len(site.requests) == 1
    assert RemoteAgent.objects.get(pk=due.pk).card_stale is False


def test_credentials_are_sealed_and_never_logged_or_audited(site, allow_local, operator, caplog):
    secret = "s3cret-VALUE-never-shown"
    url = site.put("/cred/card.json", card(site.url))
    caplog.set_level(logging.DEBUG)
    agent = remote_agent_register(
        actor=operator,
        name="cred",
        card_url=url,
        credential_kind="api_key",
        credential_header="X-Agent-Key",
        credential_secret=secret,
    )
    assert secret not in agent.credential_secret
    assert secret_open(agent.credential_secret) == secret
    options = remote_agent_client_options(agent=agent)
    assert options.credentials is not None
    assert list(options.credentials.headers()) == ["X-Agent-Key"]
    agent = remote_agent_update(
        agent=agent, actor=operator, changes={"credential_secret": secret + "2"}
    )
    assert secret_open(agent.credential_secret) == secret + "2"
    remote_agent_refresh(agent=agent, actor=operator)
    rows = json.dumps(list(AuditEvent.objects.values("extra")))
    assert secret not in rows
    assert "credential_secret" in rows  # the name of what changed, never its value
    assert caplog.records
    assert not [r for r in caplog.records if secret in r.getMessage()]
    cleared = remote_agent_update(agent=agent, actor=operator, changes={"credential_kind": "none"})
    assert (cleared.credential_secret, cleared.credential_set) == ("", False)


def test_beat_runs_the_refresh_job(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["remote-agents-refresh"]
    assert entry["task"] == remote_agents_refresh_job.name
    assert entry["schedule"] == settings.WEBCAP_REMOTE_AGENT_REFRESH_SECONDS == 300.0


def test_a_stricter_trust_policy_checks_the_card_first(
    webcap_server: LiveServer, site, allow_local, operator
):
    url = site.put("/strict/card.json", card(site.url))
    agent = remote_agent_register(actor=operator, name="strict", card_url=url)
    with pytest.raises(RemoteAgentRefused) as refused:
        remote_agent_update(agent=agent, actor=operator, changes={"trust_policy": "signed"})
    assert refused.value.extra["reason"] == "NO_SIGNATURE"
    assert RemoteAgent.objects.get(pk=agent.pk).trust_policy == "open"
    row = AuditEvent.objects.get(action="remoteagent.update", outcome="failure")
    assert (row.target_id, row.extra["reason"]) == (str(agent.pk), "NO_SIGNATURE")

    live = remote_agent_register(actor=operator, name="live-open", card_url=webcap_server.url)
    assert live.signature_status == "unsigned"
    jwks = httpx.get(f"{webcap_server.url}/.well-known/jwks.json").json()
    pinned = remote_agent_update(
        agent=live, actor=operator, changes={"trust_policy": "pinned", "pinned_keys": jwks}
    )
    assert (pinned.signature_status, pinned.signature_kid) == ("verified", LIVE_CARD_KID)
