"""webcap's signed card (A2A §8.4) checked by the a2a-sdk 1.3.0's own signature verifier.

The SDK canonicalises the card its own way (protobuf, then its RFC 8785 code) and verifies
with PyJWT: an implementation webcap did not write. The live server's card is signed (the
``webcap_server`` fixture), so every other interop test reads a signed card as well.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from common.jws import key_generate, key_set_document
from tests.conftest import LIVE_CARD_KID
from tests.interop.conftest import sdk_script

pytestmark = pytest.mark.interop

CARD = "/.well-known/agent-card.json"
JWKS = "/.well-known/jwks.json"


def sdk_verify(sdk_python: Path, card: dict[str, Any], jwks: dict[str, Any]) -> Any:
    """Run the SDK's verifier on card with the keys of jwks; return what it printed."""
    return sdk_script(
        sdk_python, "sdk_verify_card.py", stdin=json.dumps({"card": card, "jwks": jwks})
    )


@pytest.fixture
def signed(settings, tmp_path: Path) -> None:
    path = tmp_path / "card-keys.json"
    keys = [key_generate("ES256", kid="es"), key_generate("EdDSA", kid="ed")]
    path.write_text(json.dumps(key_set_document(keys)))
    settings.WEBCAP_CARD_SIGNING_KEYS = str(path)
    settings.WEBCAP_CARD_SIGNING_KEY_ID = "es"


@pytest.mark.usefixtures("signed")
@pytest.mark.parametrize("kid", ["es", "ed"])
def test_the_sdk_verifies_the_card_and_refuses_it_tampered(client, sdk_python, settings, kid):
    settings.WEBCAP_CARD_SIGNING_KEY_ID = kid
    card = client.get(CARD).json()
    jwks = client.get(JWKS).json()
    assert sdk_verify(sdk_python, card, jwks) == {
        "verified": True,
        "kid": kid,
        "jku": f"http://testserver{JWKS}",
    }
    tampered = {**card, "description": card["description"] + " (changed)"}
    assert sdk_verify(sdk_python, tampered, jwks) == {
        "error": "InvalidSignaturesError",
        "message": "No valid signature found",
    }
    unsigned = {k: v for k, v in card.items() if k != "signatures"}
    assert sdk_verify(sdk_python, unsigned, jwks)["error"] == "NoSignatureError"


@pytest.mark.live
def test_the_sdk_client_reads_and_verifies_the_live_signed_card(sdk, live_keys, webcap_server):
    result = sdk(live_keys["alice"], "card_verify")
    assert result == {
        "verified": True,
        "name": "webcap",
        "kid": LIVE_CARD_KID,
        "jku": f"{webcap_server.url}{JWKS}",
    }
