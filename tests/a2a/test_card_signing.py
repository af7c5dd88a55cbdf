"""webcap's signed card and its published keys (A2A §8.4): settings, HTTP, checks, command."""

from __future__ import annotations

import base64
import copy
import io
import json
import os
from pathlib import Path
from typing import Any

import jwt
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from a2a.card import rendered_card
from a2a.checks import card_signing_keys_valid
from a2a.protocol.signatures import CardRefused, Refusal, verify_card
from a2a.signing import SigningConfigError
from common.jws import PRIVATE_MEMBERS, key_generate, key_set_document

CARD = "/.well-known/agent-card.json"
LEGACY = "/.well-known/agent.json"
JWKS = "/.well-known/jwks.json"
BASE = "http://testserver"


@pytest.fixture(scope="module")
def key_set_text() -> str:
    """A set of two keys: "old" still published, "new" the one that signs."""
    keys = [key_generate("ES256", kid="old"), key_generate("EdDSA", kid="new")]
    return json.dumps(key_set_document(keys))


@pytest.fixture
def signing(settings, tmp_path: Path, key_set_text) -> Path:
    path = tmp_path / "card-keys.json"
    path.write_text(key_set_text)
    path.chmod(0o600)
    settings.WEBCAP_CARD_SIGNING_KEYS = str(path)
    settings.WEBCAP_CARD_SIGNING_KEY_ID = "new"
    return path


def protected(card: dict[str, Any]) -> dict[str, Any]:
    [signature] = card["signatures"]
    header: dict[str, Any] = json.loads(base64.urlsafe_b64decode(signature["protected"] + "=="))
    return header


def without_empties(value):
    """The a2a-sdk's rule (its _clean_empty), written again here for an independent check."""
    if isinstance(value, dict):
        kept = {k: c for k, v in value.items() if (c := without_empties(v)) is not None}
        return kept or None
    if isinstance(value, list):
        kept_items = [c for v in value if (c := without_empties(v)) is not None]
        return kept_items or None
    return None if value in ("", None) else value


def test_the_served_card_verifies_with_another_jose_library(client, signing):
    response = client.get(CARD)
    card = response.json()
    assert protected(card) == {
        "alg": "EdDSA",
        "typ": "JOSE",
        "kid": "new",
        "jku": f"{BASE}{JWKS}",
    }
    jwks = client.get(JWKS).json()
    # PyJWT, not joserfc; the payload canonicalised by json.dumps (this card has only ASCII
    # keys and no floats, where RFC 8785 and sorted compact JSON agree).
    body = without_empties({k: v for k, v in card.items() if k != "signatures"})
    payload = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    encoded = base64.urlsafe_b64encode(payload.encode()).rstrip(b"=").decode()
    [signature] = card["signatures"]
    key = jwt.PyJWK(next(k for k in jwks["keys"] if k["kid"] == "new"))
    token = f"{signature['protected']}.{encoded}.{signature['signature']}"
    assert jwt.decode(token, key=key, algorithms=["EdDSA"])["name"] == "webcap"
    # And webcap's own verifier, under the strictest policy that fits.
    result = verify_card(response.content, policy="signed", jwks=jwks, card_url=BASE + CARD)
    assert (result.kid, result.jku) == ("new", BASE + JWKS)


def test_the_signature_is_rendered_once_with_the_bytes_and_etag(client, signing):
    first = client.get(CARD)
    assert rendered_card.cache_info().currsize == 1
    rendered_card.cache_clear()
    # Deterministic: another process (here, a fresh render) makes the same bytes and ETag.
    again = client.get(CARD)
    assert again.content == first.content
    assert again["ETag"] == first["ETag"]
    assert client.get(CARD, headers={"If-None-Match": first["ETag"]}).status_code == 304


def test_the_legacy_card_is_signed_over_its_03_fields_too(client, signing):
    response = client.get(LEGACY)
    card = response.json()
    assert card["url"] == f"{BASE}/a2a/jsonrpc"  # a 0.3 field
    assert protected(card)["kid"] == "new"
    jwks = client.get(JWKS).content
    verify_card(response.content, policy="signed", jwks=jwks, card_url=BASE + LEGACY)
    tampered = copy.deepcopy(card)
    tampered["url"] = "https://evil.example/a2a/jsonrpc"
    with pytest.raises(CardRefused) as refused:
        verify_card(tampered, policy="signed", jwks=jwks, card_url=BASE + LEGACY)
    assert refused.value.reason is Refusal.BAD_SIGNATURE


@pytest.mark.usefixtures("signing", "members_card")
def test_the_extended_card_is_signed(client, api_key):
    response = client.get(
        "/a2a/rest/extendedAgentCard",
        headers={"Authorization": f"Bearer {api_key}", "A2A-Version": "1.0"},
    )
    card = response.json()
    assert card["description"] == "For members."
    jwks = client.get(JWKS).content
    assert verify_card(card, policy="signed", jwks=jwks, card_url=BASE + CARD).kid == "new"


def test_the_jwks_publishes_every_public_key_and_nothing_private(client, signing):
    response = client.get(JWKS, headers={"Origin": "https://elsewhere.example"})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/jwk-set+json"
    assert response["Cache-Control"] == "public, max-age=300"
    assert response["Access-Control-Allow-Origin"] == "*"
    keys = response.json()["keys"]
    assert [(k["kid"], k["alg"], k["use"], k["kty"]) for k in keys] == [
        ("old", "ES256", "sig", "EC"),
        ("new", "EdDSA", "sig", "OKP"),
    ]
    for member in PRIVATE_MEMBERS:
        assert all(member not in key for key in keys)
        assert f'"{member}":' not in response.content.decode()
    assert client.get(JWKS, headers={"If-None-Match": response["ETag"]}).status_code == 304
    assert client.post(JWKS).status_code == 405


def test_rotation_switches_the_signing_key_and_keeps_publishing_the_old(client, signing, settings):
    settings.WEBCAP_CARD_SIGNING_KEY_ID = "old"
    card = client.get(CARD).json()
    assert protected(card)["kid"] == "old"
    assert protected(card)["alg"] == "ES256"
    assert [k["kid"] for k in client.get(JWKS).json()["keys"]] == ["old", "new"]


def test_without_keys_the_card_is_unsigned_and_no_keys_are_published(client):
    assert "signatures" not in client.get(CARD).json()
    response = client.get(JWKS)
    assert response.status_code == 404
    assert response.json() == {
        "error": "This server does not sign its agent card: it publishes no keys."
    }


def test_keys_may_be_given_inline(client, settings, key_set_text):
    settings.WEBCAP_CARD_SIGNING_KEYS = key_set_text
    settings.WEBCAP_CARD_SIGNING_KEY_ID = "old"
    assert protected(client.get(CARD).json())["kid"] == "old"


@pytest.mark.parametrize(
    ("keys", "kid", "message"),
    [
        ("{nope", "", "WEBCAP_CARD_SIGNING_KEYS: not JSON"),
        ("/nonexistent/keys.json", "", "cannot read /nonexistent/keys.json"),
        ("KEYS", "missing", "WEBCAP_CARD_SIGNING_KEY_ID='missing' is not a kid of"),
        ("KEYS", "", "has 2 keys (old, new): set WEBCAP_CARD_SIGNING_KEY_ID"),
        ("PUBLIC", "", "without its private part (cannot sign): old, new"),
        ("", "new", "WEBCAP_CARD_SIGNING_KEY_ID is set but WEBCAP_CARD_SIGNING_KEYS is not"),
    ],
)
def test_a_misconfigured_key_set_fails_the_system_check(settings, key_set_text, keys, kid, message):
    private = json.loads(key_set_text)["keys"]
    public = json.dumps({"keys": [{k: v for k, v in key.items() if k != "d"} for key in private]})
    settings.WEBCAP_CARD_SIGNING_KEYS = {"KEYS": key_set_text, "PUBLIC": public}.get(keys, keys)
    settings.WEBCAP_CARD_SIGNING_KEY_ID = kid
    [error] = card_signing_keys_valid(None)
    assert error.id == "webcap.E003"
    assert message in error.msg


def test_a_key_file_others_can_read_is_warned_about(signing):
    assert card_signing_keys_valid(None) == []
    signing.chmod(0o644)
    [warning] = card_signing_keys_valid(None)
    assert warning.id == "webcap.W005"
    assert warning.hint == f"chmod 600 {signing}"


def run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("cardkey", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_cardkey_creates_rotates_and_removes_keys(settings, tmp_path):
    path = tmp_path / "keys" / "card-keys.json"
    out, _ = run("create", "--kid", "one", "--output", str(path))
    assert out.splitlines() == [
        f"WEBCAP_CARD_SIGNING_KEYS={path}",
        "WEBCAP_CARD_SIGNING_KEY_ID=one",
    ]
    assert os.stat(path).st_mode & 0o777 == 0o600
    with pytest.raises(CommandError, match="exists; use --add-to"):
        run("create", "--output", str(path))

    settings.WEBCAP_CARD_SIGNING_KEYS = str(path)
    settings.WEBCAP_CARD_SIGNING_KEY_ID = "one"
    out, err = run("create", "--kid", "two", "--alg", "EdDSA", "--add-to", str(path))
    assert out.strip() == "WEBCAP_CARD_SIGNING_KEY_ID=two"
    assert "Keep WEBCAP_CARD_SIGNING_KEY_ID at the key that signs now (one)" in err
    assert [k["kid"] for k in json.loads(path.read_text())["keys"]] == ["one", "two"]
    assert os.stat(path).st_mode & 0o777 == 0o600

    out, _ = run("public")
    published = json.loads(out)["keys"]
    assert [(k["kid"], k["alg"]) for k in published] == [("one", "ES256"), ("two", "EdDSA")]
    assert not any(PRIVATE_MEMBERS & set(k) for k in published)

    with pytest.raises(CommandError, match="'one' is the active key"):
        run("remove", "one", "--from", str(path))
    settings.WEBCAP_CARD_SIGNING_KEY_ID = "two"
    run("remove", "one", "--from", str(path))
    assert [k["kid"] for k in json.loads(path.read_text())["keys"]] == ["two"]
    with pytest.raises(CommandError, match="has no key 'one'"):
        run("remove", "one", "--from", str(path))


def test_cardkey_prints_a_key_set_without_a_file(tmp_path):
    out, err = run("create", "--kid", "inline")
    [key] = json.loads(out)["keys"]
    assert (key["kid"], key["alg"], key["crv"]) == ("inline", "ES256", "P-256")
    assert "d" in key
    assert "keep it secret" in err
    with pytest.raises(CommandError, match="is not set"):
        run("public")


def test_a_broken_key_set_never_serves_the_card_unsigned(client, settings):
    # Past the system check (a process started without it), the card fails loudly.
    settings.WEBCAP_CARD_SIGNING_KEYS = "{broken"
    with pytest.raises(SigningConfigError, match="not JSON"):
        client.get(CARD)
