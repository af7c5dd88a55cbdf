"""How the agent card is cached: validators, 304s, invalidation, the shared Last-Modified."""

from __future__ import annotations

import logging

import pytest
import redis
from django.core.cache import cache
from django.test import override_settings

from a2a.card import LAST_MODIFIED_KEY, _last_modified, rendered_card
from tests.live.server import free_port
from tests.redis_server import redis_server

CARD = "/.well-known/agent-card.json"
LEGACY = "/.well-known/agent.json"


@pytest.fixture(autouse=True)
def fresh_card():
    rendered_card.cache_clear()
    _last_modified.clear()
    yield
    rendered_card.cache_clear()
    _last_modified.clear()


def _another_process() -> None:
    """Forget what this process remembers, as a second web process would know nothing."""
    rendered_card.cache_clear()
    _last_modified.clear()


def test_validators_are_the_same_in_every_process(client):
    first = client.get(CARD)
    _another_process()
    second = client.get(CARD)
    assert second.status_code == 200
    assert (second["ETag"], second["Last-Modified"]) == (first["ETag"], first["Last-Modified"])
    assert second.content == first.content
    key = LAST_MODIFIED_KEY.format(etag=first["ETag"].strip('"'))
    assert cache.get(key) == first["Last-Modified"]


def test_conditional_requests_get_304_with_the_validators(client):
    first = client.get(CARD)
    etag, last_modified = first["ETag"], first["Last-Modified"]

    for headers in (
        {"If-None-Match": etag},
        {"If-None-Match": f'"other", W/{etag}'},
        {"If-None-Match": "*"},
        {"If-Modified-Since": last_modified},
        {"If-Modified-Since": "Fri, 01 Jan 2100 00:00:00 GMT"},
    ):
        response = client.get(CARD, headers=headers)
        assert response.status_code == 304, headers
        assert response.content == b""
        assert response["ETag"] == etag
        assert response["Cache-Control"] == "public, max-age=300"

    for headers in (
        {"If-None-Match": '"stale"'},
        {"If-Modified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"},
        {"If-Modified-Since": "not a date"},
        # RFC 9110 §13.2.2: If-None-Match decides; a matching date does not save a stale tag.
        {"If-None-Match": '"stale"', "If-Modified-Since": last_modified},
    ):
        response = client.get(CARD, headers=headers)
        assert response.status_code == 200, headers
        assert response.content == first.content


def test_a_changed_card_has_a_new_etag_and_old_validators_stop_matching(client, settings):
    before = client.get(CARD)
    legacy_before = client.get(LEGACY)
    assert legacy_before["ETag"] != before["ETag"]

    settings.WEBCAP_AGENT_NAME = "renamed"
    after = client.get(CARD, headers={"If-None-Match": before["ETag"]})
    assert after.status_code == 200
    assert after.json()["name"] == "renamed"
    assert after["ETag"] != before["ETag"]
    legacy_after = client.get(LEGACY, headers={"If-None-Match": legacy_before["ETag"]})
    assert legacy_after.status_code == 200
    assert legacy_after.json()["name"] == "renamed"

    # Content-addressed: the old configuration is the old card, with its old date.
    settings.WEBCAP_AGENT_NAME = "webcap"
    again = client.get(CARD, headers={"If-None-Match": before["ETag"]})
    assert again.status_code == 304
    assert again["Last-Modified"] == before["Last-Modified"]


def test_the_card_follows_the_agent_and_its_skills(client, settings):
    echo = client.get(CARD)
    settings.WEBCAP_AGENT = "assistant"
    assistant = client.get(CARD, headers={"If-None-Match": echo["ETag"]})
    assert assistant.status_code == 200
    assert [s["id"] for s in assistant.json()["skills"]] == ["assistant"]
    assert assistant["ETag"] != echo["ETag"]


@pytest.mark.usefixtures("members_card")
def test_the_extended_card_is_private_and_never_stored(client, api_key):
    response = client.get(
        "/a2a/rest/extendedAgentCard",
        headers={"Authorization": f"Bearer {api_key}", "A2A-Version": "1.0"},
    )
    assert response.status_code == 200
    assert response.json()["description"] == "For members."
    assert response["Cache-Control"] == "private, no-store"
    assert not response.has_header("ETag")
    # With an API key header instead of Authorization, too: shared caches ignore that header.
    by_key = client.get(
        "/a2a/rest/extendedAgentCard", headers={"X-API-Key": api_key, "A2A-Version": "1.0"}
    )
    assert by_key["Cache-Control"] == "private, no-store"

    anonymous = client.get("/a2a/rest/extendedAgentCard", headers={"A2A-Version": "1.0"})
    assert anonymous.status_code == 401
    assert "public" not in anonymous.get("Cache-Control", "")
    # The public card still says nothing the extended one adds.
    public = client.get(CARD)
    assert public["Cache-Control"] == "public, max-age=300"
    assert public.json()["description"] != "For members."
    assert public.json()["capabilities"]["extendedAgentCard"] is True


def test_without_the_shared_cache_the_card_is_still_served(client, caplog):
    # Nothing listens on this port: every cache call fails at once.
    unreachable = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
        }
    }
    with override_settings(CACHES=unreachable), caplog.at_level(logging.WARNING, "a2a.card"):
        first = client.get(CARD)
        second = client.get(CARD, headers={"If-None-Match": first["ETag"]})
    assert first.status_code == 200
    assert first["Last-Modified"].endswith("GMT")
    assert second.status_code == 304
    assert second["Last-Modified"] == first["Last-Modified"]
    assert caplog.messages == ["Agent card: the shared cache is unavailable"]


@pytest.mark.live
def test_web_processes_share_the_last_modified_through_redis(client, tmp_path):
    with redis_server(tmp_path) as url:
        shared = {
            "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url}
        }
        with override_settings(CACHES=shared):
            first = client.get(CARD)
            _another_process()
            second = client.get(CARD, headers={"If-Modified-Since": first["Last-Modified"]})
        stored = redis.Redis.from_url(url, decode_responses=True).keys("*:last-modified:*")
    assert second.status_code == 304
    assert second["Last-Modified"] == first["Last-Modified"]
    assert second["ETag"] == first["ETag"]
    assert stored == [":1:" + LAST_MODIFIED_KEY.format(etag=first["ETag"].strip('"'))]
