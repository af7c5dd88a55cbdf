"""The agent card: what it declares and how it is cached."""

from __future__ import annotations

import pytest
from django.test import override_settings

from a2a.card import rendered_card

BEARER_DESCRIPTION = (
    "An access token from POST /api/auth/token/ (a JWT), or a webcap API key (wcp_...) as "
    "the bearer token."
)


@pytest.fixture(autouse=True)
def fresh_card():
    rendered_card.cache_clear()
    yield
    rendered_card.cache_clear()


def test_card_declares_what_is_served(client):
    response = client.get("/.well-known/agent-card.json")
    assert response.status_code == 200
    card = response.json()
    assert card["name"] == "webcap"
    assert card["version"] == "0.1.0"
    assert card["capabilities"] == {
        "streaming": True,
        "pushNotifications": True,
        "extendedAgentCard": False,
    }
    assert card["supportedInterfaces"] == [
        {
            "url": "http://testserver/a2a/jsonrpc",
            "protocolBinding": "JSONRPC",
            "protocolVersion": "1.0",
        },
        {
            "url": "http://testserver/a2a/rest",
            "protocolBinding": "HTTP+JSON",
            "protocolVersion": "1.0",
        },
        {
            "url": "ws://testserver/ws/a2a",
            "protocolBinding": "urn:webcap:binding:websocket-jsonrpc:v1",
            "protocolVersion": "1.0",
        },
        {
            "url": "ws://testserver/ws/capnweb",
            "protocolBinding": "urn:webcap:binding:capnweb:v1",
            "protocolVersion": "1.0",
        },
        {
            "url": "http://testserver/a2a/jsonrpc",
            "protocolBinding": "JSONRPC",
            "protocolVersion": "0.3",
        },
    ]
    # No 0.3 field in the 1.0 card (the A2A TCK's schema allows none).
    assert not {"url", "protocolVersion", "preferredTransport", "security"} & set(card)
    assert card["securitySchemes"]["bearer"] == {
        "httpAuthSecurityScheme": {
            "scheme": "Bearer",
            "bearerFormat": "JWT",
            "description": BEARER_DESCRIPTION,
        }
    }
    assert "oidc" not in card["securitySchemes"]
    assert card["securitySchemes"]["apiKey"]["apiKeySecurityScheme"]["name"] == "X-API-Key"
    assert card["securityRequirements"] == [
        {"schemes": {"bearer": {"list": []}}},
        {"schemes": {"apiKey": {"list": []}}},
    ]
    assert card["defaultInputModes"] == ["text/plain"]
    assert card["skills"][0]["id"] == "echo"


def test_card_caching_headers_and_304(client):
    first = client.get("/.well-known/agent-card.json")
    assert first["Cache-Control"] == "public, max-age=300"
    assert first["ETag"].startswith('"')
    assert first["Last-Modified"].endswith("GMT")
    assert first["Access-Control-Allow-Origin"] == "*"
    again = client.get("/.well-known/agent-card.json", headers={"If-None-Match": first["ETag"]})
    assert again.status_code == 304
    assert again.content == b""
    other = client.get("/.well-known/agent-card.json", headers={"If-None-Match": '"stale"'})
    assert other.status_code == 200


def test_public_url_and_public_agent_user(client, settings):
    settings.WEBCAP_PUBLIC_URL = "https://agents.example.com"
    settings.WEBCAP_PUBLIC_AGENT_USER = "public"
    card = client.get("/.well-known/agent-card.json").json()
    assert [i["url"] for i in card["supportedInterfaces"]] == [
        "https://agents.example.com/a2a/jsonrpc",
        "https://agents.example.com/a2a/rest",
        "wss://agents.example.com/ws/a2a",
        "wss://agents.example.com/ws/capnweb",
        "https://agents.example.com/a2a/jsonrpc",
    ]
    assert "securityRequirements" not in card


def test_card_is_get_only(client):
    assert client.post("/.well-known/agent-card.json").status_code == 405


def test_legacy_path_serves_the_card_with_its_0_3_fields(client):
    card = client.get("/.well-known/agent.json").json()
    current = client.get("/.well-known/agent-card.json").json()
    assert card["supportedInterfaces"] == current["supportedInterfaces"]
    assert (card["protocolVersion"], card["url"], card["preferredTransport"]) == (
        "0.3.0",
        "http://testserver/a2a/jsonrpc",
        "JSONRPC",
    )
    assert card["additionalInterfaces"] == [
        {"url": "http://testserver/a2a/jsonrpc", "transport": "JSONRPC"}
    ]
    assert card["securitySchemes"]["bearer"] == {
        "httpAuthSecurityScheme": {
            "scheme": "Bearer",
            "bearerFormat": "JWT",
            "description": BEARER_DESCRIPTION,
        },
        "type": "http",
        "scheme": "Bearer",
        "bearerFormat": "JWT",
        "description": BEARER_DESCRIPTION,
    }
    assert card["securitySchemes"]["apiKey"]["in"] == "header"
    assert card["security"] == [{"bearer": []}, {"apiKey": []}]


@override_settings(OIDC_ISSUER="https://id.example.com", OIDC_AUDIENCE="webcap-api")
def test_card_declares_the_openid_connect_provider_when_configured(client):
    card = client.get("/.well-known/agent-card.json").json()
    assert card["securitySchemes"]["oidc"] == {
        "openIdConnectSecurityScheme": {
            "openIdConnectUrl": "https://id.example.com/.well-known/openid-configuration",
            "description": "An access token of the configured OpenID Connect provider, for the "
            "audience 'webcap-api', as a bearer token.",
        }
    }
    assert {"schemes": {"oidc": {"list": []}}} in card["securityRequirements"]
    legacy = client.get("/.well-known/agent.json").json()
    assert legacy["securitySchemes"]["oidc"]["type"] == "openIdConnect"
    assert {"oidc": []} in legacy["security"]


def test_card_is_readable_from_any_origin(client):
    response = client.get("/.well-known/agent-card.json", headers={"Origin": "https://x.example"})
    assert response["Access-Control-Allow-Origin"] == "*"
