"""Verify an agent card's signatures with the a2a-sdk's own verifier; print what it found.

Runs in the interop virtualenv (a2a-sdk 1.3.0 with its ``signing`` extra, PyJWT), never in
webcap's own: an implementation of A2A §8.4 that webcap did not write. Reads
``{"card": {...}, "jwks": {"keys": [...]}}`` on stdin; the key of each signature is looked up
in that set by the kid and jku of its protected header. Prints ``{"verified": true, "kid":
..., "jku": ...}`` or ``{"error": <class>, "message": ...}``.
"""

# "a2a" here is the SDK, which the isort settings would file as first-party.
# ruff: noqa: I001
from __future__ import annotations

import json
import sys
from typing import Any

from a2a.types import AgentCard
from a2a.utils.signing import create_signature_verifier
from google.protobuf.json_format import ParseDict
from jwt import PyJWK

ALGORITHMS = ["ES256", "ES384", "ES512", "RS256", "PS256", "EdDSA"]


def main() -> None:
    data = json.load(sys.stdin)
    keys = {key["kid"]: key for key in data["jwks"]["keys"]}
    used: dict[str, Any] = {}

    def key_provider(kid: str | None, jku: str | None) -> PyJWK:
        used.update(kid=kid, jku=jku)
        return PyJWK(keys[kid or ""])

    card = ParseDict(data["card"], AgentCard(), ignore_unknown_fields=True)
    try:
        create_signature_verifier(key_provider, ALGORITHMS)(card)
    except Exception as exc:  # report what the verifier raised, for the test to assert on
        print(json.dumps({"error": type(exc).__name__, "message": str(exc)}))
        return
    print(json.dumps({"verified": True, **used}))


if __name__ == "__main__":
    main()
