"""Signing agent cards and verifying remote ones under a trust policy (A2A §8.4)."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
from typing import Any

import pytest

from a2a.protocol.signatures import (
    CardRefused,
    Refusal,
    TrustPolicy,
    card_jwks_urls,
    card_payload,
    card_sign,
    card_signature,
    verify_card,
)
from common.jws import Key, b64url_encode, key_generate, public_jwk, public_jwks, sign_detached

ORIGIN = "https://agent.example"
CARD_URL = f"{ORIGIN}/.well-known/agent-card.json"
JKU = f"{ORIGIN}/.well-known/jwks.json"
CARD = {
    "name": "Remote",
    "description": "A remote agent.",
    "version": "1.0.0",
    "supportedInterfaces": [
        {"url": f"{ORIGIN}/a2a", "protocolBinding": "JSONRPC", "protocolVersion": "1.0"}
    ],
    "capabilities": {"streaming": True, "pushNotifications": False},
    "defaultInputModes": ["text/plain"],
    "defaultOutputModes": ["text/plain"],
    "skills": [{"id": "s", "name": "S", "description": "d", "tags": ["t"]}],
}


@pytest.fixture(scope="module")
def old_key() -> Key:
    return key_generate("ES256", kid="2026-01")


@pytest.fixture(scope="module")
def new_key() -> Key:
    return key_generate("ES256", kid="2026-07")


def refusal(card, **kwargs) -> CardRefused:
    with pytest.raises(CardRefused) as caught:
        verify_card(card, card_url=kwargs.pop("card_url", CARD_URL), **kwargs)
    return caught.value


def with_header(
    card: dict[str, Any], protected: dict[str, Any], signature: bytes = b"sig"
) -> dict[str, Any]:
    """card with one signature whose protected header is exactly ``protected``."""
    encoded = b64url_encode(json.dumps(protected).encode())
    return {**card, "signatures": [{"protected": encoded, "signature": b64url_encode(signature)}]}


def test_sign_then_verify_under_signed(old_key):
    signed = card_sign(CARD, key=old_key, jku=JKU)
    [signature] = signed["signatures"]
    header = json.loads(base64.urlsafe_b64decode(signature["protected"] + "=="))
    assert header == {"alg": "ES256", "typ": "JOSE", "kid": "2026-01", "jku": JKU}
    result = verify_card(
        json.dumps(signed), policy="signed", jwks=public_jwks([old_key]), card_url=CARD_URL
    )
    assert (result.policy, result.kid, result.jku, result.algorithm) == (
        TrustPolicy.SIGNED,
        "2026-01",
        JKU,
        "ES256",
    )
    assert result.verified
    assert result.card["name"] == "Remote"


def test_payload_leaves_out_signatures_empty_values_and_no_presence_defaults():
    card = {
        **CARD,
        "documentationUrl": "",
        "securityRequirements": [{"schemes": {"bearer": {"list": []}}}],
        "capabilities": {
            "streaming": False,
            "extensions": [{"uri": "urn:x", "required": False, "params": {"a": 1.0}}],
        },
        "securitySchemes": {
            "o": {
                "oauth2SecurityScheme": {
                    "flows": {"authorizationCode": {"tokenUrl": "t", "pkceRequired": False}}
                }
            }
        },
        "signatures": [{"protected": "x", "signature": "y"}],
    }
    payload = json.loads(card_payload(card))
    assert "signatures" not in payload
    assert "documentationUrl" not in payload
    assert "securityRequirements" not in payload  # only empty scope lists: nothing left
    # streaming is `optional` (explicitly false stays); required has no presence (false goes).
    assert payload["capabilities"] == {
        "streaming": False,
        "extensions": [{"uri": "urn:x", "params": {"a": 1}}],
    }
    assert payload["securitySchemes"]["o"]["oauth2SecurityScheme"]["flows"] == {
        "authorizationCode": {"tokenUrl": "t"}
    }
    # A signature does not cover itself: the same payload with or without signatures.
    assert card_payload(card) == card_payload({k: v for k, v in card.items() if k != "signatures"})


def test_a_tampered_card_is_refused(old_key):
    signed = card_sign(CARD, key=old_key, jku=JKU)
    tampered = copy.deepcopy(signed)
    tampered["supportedInterfaces"][0]["url"] = "https://evil.example/a2a"
    refused = refusal(tampered, policy="signed", jwks=public_jwks([old_key]))
    assert refused.reason is Refusal.BAD_SIGNATURE
    assert refused.kid == "2026-01"
    assert "changed after signing" in str(refused)


def test_a_wrong_key_is_refused(old_key):
    # Another key under the published kid: the signature does not verify.
    impostor = key_generate("ES256", kid="2026-01")
    signed = card_sign(CARD, key=impostor, jku=JKU)
    assert refusal(signed, policy="signed", jwks=public_jwks([old_key])).reason is (
        Refusal.BAD_SIGNATURE
    )
    # A kid the key set does not have.
    stranger = card_sign(CARD, key=key_generate("ES256", kid="other"), jku=JKU)
    refused = refusal(stranger, policy="signed", jwks=public_jwks([old_key]))
    assert refused.reason is Refusal.KEY_NOT_FOUND
    assert str(refused) == f"key 'other' is not in the key set at {JKU}"


def test_an_unsigned_card_is_refused_under_signed_and_pinned_but_open_accepts_it(old_key):
    for policy in ("signed", "pinned"):
        refused = refusal(CARD, policy=policy, jwks=public_jwks([old_key]))
        assert refused.reason is Refusal.NO_SIGNATURE
        assert str(refused) == f"the card has no signature, and its trust policy is {policy}"
    result = verify_card(CARD, policy=TrustPolicy.OPEN, card_url=CARD_URL)
    assert (result.policy, result.verified) == (TrustPolicy.OPEN, False)


def test_pinned_accepts_only_the_pinned_keys(old_key, new_key):
    signed = card_sign(CARD, key=new_key, jku=JKU)
    refused = refusal(signed, policy="pinned", pinned_keys=[public_jwk(old_key)])
    assert refused.reason is Refusal.KEY_NOT_PINNED
    assert str(refused) == "key '2026-07' is not one of the keys pinned for this agent (2026-01)"
    # The JWKS URL is not consulted, and need not be on the card's origin.
    elsewhere = card_sign(CARD, key=new_key, jku="https://keys.example/jwks.json")
    result = verify_card(elsewhere, policy="pinned", pinned_keys=[new_key], card_url=CARD_URL)
    assert result.kid == "2026-07"
    # A pinned key under the right kid but the wrong value: bad signature.
    other = key_generate("ES256", kid="2026-07")
    assert refusal(signed, policy="pinned", pinned_keys=[public_jwk(other)]).reason is (
        Refusal.BAD_SIGNATURE
    )


@pytest.mark.parametrize(
    "jku",
    [
        "https://evil.example/.well-known/jwks.json",
        "http://agent.example/.well-known/jwks.json",  # another scheme
        "https://agent.example:8443/.well-known/jwks.json",  # another port
        "file:///etc/jwks.json",
    ],
)
def test_a_jwks_url_on_another_origin_is_refused_under_signed(old_key, jku):
    # Refused before any key is looked up, whatever the signature.
    signed = with_header(CARD, {"alg": "ES256", "typ": "JOSE", "kid": "2026-01", "jku": jku})
    refused = refusal(signed, policy="signed", jwks={jku: public_jwks([old_key])})
    assert refused.reason is Refusal.JKU_CROSS_ORIGIN
    assert card_jwks_urls(signed, card_url=CARD_URL) == []


def test_signed_needs_a_jku_and_its_key_set(old_key):
    assert refusal(card_sign(CARD, key=old_key), policy="signed").reason is Refusal.NO_JKU
    signed = card_sign(CARD, key=old_key, jku=JKU)
    assert refusal(signed, policy="signed").reason is Refusal.NO_JWKS
    assert refusal(signed, policy="signed", jwks={"https://x/": {}}).reason is Refusal.NO_JWKS
    # The key sets may be passed by URL, as JSON text too.
    by_url = {JKU: json.dumps(public_jwks([old_key]))}
    assert verify_card(signed, policy="signed", jwks=by_url, card_url=CARD_URL).kid == "2026-01"


@pytest.mark.parametrize("alg", ["none", "HS256", "HS512", "ES256K", None])
def test_none_hmac_and_unknown_algorithms_are_refused(old_key, alg):
    payload = card_payload(CARD)
    header = {"typ": "JOSE", "kid": "2026-01", "jku": JKU, "alg": alg}
    encoded = b64url_encode(json.dumps(header).encode())
    # An HMAC "signature" keyed with the published key: the classic algorithm confusion.
    secret = json.dumps(public_jwk(old_key)).encode()
    mac = hmac.new(secret, f"{encoded}.{b64url_encode(payload)}".encode(), hashlib.sha256)
    forged = {
        **CARD,
        "signatures": [{"protected": encoded, "signature": b64url_encode(mac.digest())}],
    }
    refused = refusal(forged, policy="signed", jwks=public_jwks([old_key]))
    if alg is None:
        assert refused.reason is Refusal.MALFORMED_SIGNATURE
    else:
        assert refused.reason is Refusal.UNSUPPORTED_ALGORITHM
        assert str(refused).startswith(f"signature algorithm {alg!r} is not accepted")


@pytest.mark.parametrize(
    ("signatures", "reason"),
    [
        ([{"protected": "!!", "signature": "x"}], Refusal.MALFORMED_SIGNATURE),
        ([{"signature": "x"}], Refusal.MALFORMED_SIGNATURE),
        (["x"], Refusal.MALFORMED_SIGNATURE),
        ("not a list", Refusal.NO_SIGNATURE),
    ],
)
def test_malformed_signatures_are_refused(old_key, signatures, reason):
    card = {**CARD, "signatures": signatures}
    assert refusal(card, policy="signed", jwks=public_jwks([old_key])).reason is reason


def test_headers_without_kid_or_with_crit_are_refused(old_key):
    for header in (
        {"alg": "ES256", "jku": JKU},
        {"alg": "ES256", "kid": "2026-01", "jku": JKU, "crit": ["exp"], "exp": 1},
    ):
        card = with_header(CARD, header)
        assert refusal(card, policy="signed", jwks=public_jwks([old_key])).reason is (
            Refusal.MALFORMED_SIGNATURE
        )


def test_malformed_cards_are_refused():
    assert refusal("{", policy="signed").reason is Refusal.MALFORMED_CARD
    assert refusal("[]", policy="open").reason is Refusal.MALFORMED_CARD


def test_rotation_old_kid_verifies_while_published(old_key, new_key):
    old_card = card_sign(CARD, key=old_key, jku=JKU)
    new_card = card_sign(CARD, key=new_key, jku=JKU)
    both = public_jwks([old_key, new_key])
    for card, kid in ((old_card, "2026-01"), (new_card, "2026-07")):
        assert verify_card(card, policy="signed", jwks=both, card_url=CARD_URL).kid == kid
    # The old key dropped from the set: a card still signed by it no longer verifies.
    refused = refusal(old_card, policy="signed", jwks=public_jwks([new_key]))
    assert refused.reason is Refusal.KEY_NOT_FOUND


def test_any_valid_signature_is_enough_and_all_failures_are_reported(old_key, new_key):
    good = card_signature(CARD, key=new_key, jku=JKU)
    stranger = card_signature(CARD, key=key_generate("ES256", kid="x"), jku=JKU)
    card = {**CARD, "signatures": [stranger, good]}
    result = verify_card(card, policy="signed", jwks=public_jwks([new_key]), card_url=CARD_URL)
    assert result.kid == "2026-07"
    refused = refusal(
        {**CARD, "signatures": [stranger, card_signature(CARD, key=old_key, jku=JKU)]},
        policy="signed",
        jwks=public_jwks([new_key]),
    )
    assert refused.reason is Refusal.KEY_NOT_FOUND
    assert [f.kid for f in refused.failures] == ["x", "2026-01"]
    assert str(refused).endswith("(and 1 more signature(s) failed)")
    # What the registry keeps in its audit row and shows in the admin.
    missing = "key {!r} is not in the key set at " + JKU
    assert refused.details() == {
        "reason": "KEY_NOT_FOUND",
        "message": str(refused),
        "kid": "x",
        "failures": [
            {"reason": "KEY_NOT_FOUND", "message": missing.format(kid), "kid": kid}
            for kid in ("x", "2026-01")
        ],
    }


def test_a_signer_that_kept_an_empty_required_field_is_understood(old_key):
    # §8.4.1 keeps REQUIRED fields even when empty ("skills": []); the a2a-sdk drops them.
    # A signature over either form verifies.
    card = {**CARD, "skills": []}
    literal = json.dumps(card, sort_keys=True, separators=(",", ":"))
    protected, signature = sign_detached(
        literal.encode(), old_key, {"typ": "JOSE", "kid": "2026-01", "jku": JKU}
    )
    card["signatures"] = [{"protected": protected, "signature": signature}]
    result = verify_card(card, policy="signed", jwks=public_jwks([old_key]), card_url=CARD_URL)
    assert result.kid == "2026-01"


def test_jwks_urls_to_fetch_are_the_same_origin_jkus(old_key, new_key):
    card = {
        **CARD,
        "signatures": [
            card_signature(CARD, key=old_key, jku=JKU),
            card_signature(CARD, key=new_key, jku=JKU),
            card_signature(CARD, key=new_key, jku=f"{ORIGIN}/keys/2.json"),
            card_signature(CARD, key=new_key, jku="https://evil.example/jwks.json"),
            card_signature(CARD, key=new_key),
            {"protected": "!!", "signature": "x"},
        ],
    }
    assert card_jwks_urls(json.dumps(card), card_url=CARD_URL) == [JKU, f"{ORIGIN}/keys/2.json"]
    assert card_jwks_urls("not json", card_url=CARD_URL) == []


def test_policies_can_be_model_choices():
    assert TrustPolicy.choices() == [("open", "Open"), ("signed", "Signed"), ("pinned", "Pinned")]
    with pytest.raises(ValueError, match="'trusting' is not a valid TrustPolicy"):
        verify_card(CARD, policy="trusting", card_url=CARD_URL)
